"""Confidence intervals and paired differences against hand computations (t quantiles from tables)."""

from __future__ import annotations

import math

import pytest

from augdiff.benchmark.stats import mean_ci, paired_difference

T_975 = {2: 4.302653, 3: 3.182446}  # Student t 97.5 % quantiles for 2 and 3 degrees of freedom


def test_mean_ci_matches_hand_computation():
    iv = mean_ci([1.0, 2.0, 3.0, 4.0])
    sd = math.sqrt(((1.5**2) * 2 + (0.5**2) * 2) / 3)  # 1.2910
    half = T_975[3] * sd / 2
    assert iv.mean == 2.5 and iv.n == 4
    assert iv.low == pytest.approx(2.5 - half, abs=1e-5) and iv.high == pytest.approx(2.5 + half, abs=1e-5)


def test_paired_difference_uses_per_seed_differences():
    # Differences 2, 1, 3: mean 2, sd 1, half-width t(2) / sqrt(3) = 2.484 → [−0.48, 4.48], includes 0.
    iv = paired_difference([80.0, 82.0, 85.0], [78.0, 81.0, 82.0])
    assert iv.mean == pytest.approx(2.0)
    assert iv.half_width == pytest.approx(T_975[2] / math.sqrt(3), abs=1e-5)
    assert not iv.excludes_zero
    # Same means but a consistent gain of 2 ± 0.1: the pairing makes the gain significant even though the
    # unpaired spreads (78…82) overlap.
    iv = paired_difference([80.0, 84.1, 81.9], [78.0, 82.0, 80.0])
    assert iv.low > 0 and iv.excludes_zero
    assert paired_difference([70.0, 71.0, 69.0], [80.0, 81.0, 80.0]).high < 0


def test_single_seed_has_no_interval():
    iv = mean_ci([0.8])
    assert iv.mean == 0.8 and math.isnan(iv.low) and not iv.excludes_zero
    assert iv.to_dict()["low"] is None
    with pytest.raises(ValueError):
        paired_difference([1.0, 2.0], [1.0])


T_975_DF1 = 12.706205  # Student t 97.5 % quantile, 1 degree of freedom


def test_fit_seed_by_classifier_seed_interval_matches_a_hand_computation():
    from scipy import stats

    from augdiff.benchmark.stats import crossed_ci

    # K = 2 fits × S = 3 classifier seeds. Row (fit) means 82 and 78, column (seed) means 78, 80.5, 81.5.
    x = [[80.0, 82.0, 84.0], [76.0, 79.0, 79.0]]
    rows = ((82 - 80) ** 2 + (78 - 80) ** 2) / 1 / 2  # s²(fit means) / K = 8 / 2 = 4
    cols = ((78 - 80) ** 2 + (80.5 - 80) ** 2 + (81.5 - 80) ** 2) / 2 / 3  # s²(seed means) / S = 3.25 / 3
    se2 = rows + cols  # 5.0833
    df = se2**2 / (rows**2 / 1 + cols**2 / 2)  # Welch–Satterthwaite: 1.558
    half = stats.t.ppf(0.975, df) * math.sqrt(se2)
    iv = crossed_ci(x)
    assert iv.mean == pytest.approx(80.0) and iv.n == 6
    assert iv.half_width == pytest.approx(half, rel=1e-9)
    assert df == pytest.approx(1.5579, abs=1e-4)

    # Equal seed means: all the spread is between fits, so se² = s²(fit means)/K = 18/2 and df = K − 1 = 1.
    iv = crossed_ci([[80.0, 84.0, 82.0], [78.0, 74.0, 76.0]])
    assert iv.mean == pytest.approx(79.0)
    assert iv.half_width == pytest.approx(T_975_DF1 * 3.0, abs=1e-4)


def test_paired_differences_over_fits_and_seeds_use_the_baseline_seed_k():
    from augdiff.benchmark.stats import crossed_ci, crossed_detectable, detectable_difference

    baseline = [78.0, 81.0, 82.0]
    x = [[80.0, 82.0, 85.0], [81.0, 83.0, 84.0]]
    d = [[a - b for a, b in zip(row, baseline, strict=True)] for row in x]  # [[2, 1, 3], [3, 2, 2]]
    iv = crossed_ci(d)
    # Fit means 2 and 7/3; seed means 2.5, 1.5, 2.5 (mean 13/6).
    rows = ((2 - 13 / 6) ** 2 + (7 / 3 - 13 / 6) ** 2) / 1 / 2
    cols = ((2.5 - 13 / 6) ** 2 * 2 + (1.5 - 13 / 6) ** 2) / 2 / 3
    assert iv.mean == pytest.approx(13 / 6)
    from scipy import stats

    df = (rows + cols) ** 2 / (rows**2 / 1 + cols**2 / 2)
    assert iv.half_width == pytest.approx(stats.t.ppf(0.975, df) * math.sqrt(rows + cols), rel=1e-9)
    assert crossed_detectable(d) == pytest.approx(
        (stats.t.ppf(0.975, df) + stats.t.ppf(0.8, df)) * math.sqrt(rows + cols), rel=1e-9)
    # One fit: exactly the paired interval over the classifier seeds (today's), and its detectable difference.
    one = crossed_ci([d[0]])
    assert (one.mean, one.low, one.high) == pytest.approx(
        (paired_difference(x[0], baseline).mean, paired_difference(x[0], baseline).low,
         paired_difference(x[0], baseline).high))
    assert crossed_detectable([d[0]]) == pytest.approx(detectable_difference(d[0]))
    # One classifier seed: the t interval over the fits.
    col = crossed_ci([[2.0], [3.0], [4.0]])
    assert (col.mean, col.half_width) == pytest.approx((3.0, mean_ci([2.0, 3.0, 4.0]).half_width))
