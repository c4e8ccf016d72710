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
