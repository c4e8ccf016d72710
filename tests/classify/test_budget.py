"""The two classifier budgets: identical optimiser steps, or identical passes over the real split with generated
images entering by replacement."""

from __future__ import annotations

import numpy as np
import pytest

from augdiff.benchmark.stats import detectable_difference
from augdiff.classify.train import _batches
from augdiff.metrics import artefacts


def test_steps_budget_draws_every_image_alike_and_the_step_count_never_depends_on_the_set() -> None:
    for n in (100, 600):
        batches = _batches(n, 16, 50, seed=3)
        assert len(batches) == 50 and all(len(b) == 16 for b in batches)
        counts = np.bincount(np.concatenate(batches), minlength=n)
        assert counts.max() - counts.min() <= 1  # 800 draws: every image 8 times (n=100) or 1–2 times (n=600)


def test_epochs_budget_keeps_the_real_order_and_replaces_a_share_p_of_draws() -> None:
    n_real, n_gen, p = 100, 500, 0.3
    real = np.r_[np.ones(n_real, bool), np.zeros(n_gen, bool)]
    baseline = np.concatenate(_batches(n_real, 20, 200, seed=5))  # the real-only set: 40 passes
    mixed = np.concatenate(_batches(n_real + n_gen, 20, 200, seed=5, real=real, synthetic_prob=p))
    assert len(mixed) == len(baseline) == 4000  # the same steps, the same passes over the real split
    kept = mixed < n_real
    np.testing.assert_array_equal(mixed[kept], baseline[kept])  # real draws stay where the baseline has them
    assert abs((~kept).mean() - p) < 0.03
    # Every real image keeps its share: drawn 40 times in the baseline, about (1 − p)·40 times here.
    counts = np.bincount(mixed[kept], minlength=n_real)
    assert np.all(np.bincount(baseline, minlength=n_real) == 40)
    assert abs(counts.mean() - (1 - p) * 40) < 1.5 and counts.min() > 15
    assert len(np.unique(mixed[~kept])) > 0.6 * n_gen  # generated images drawn uniformly


def test_epochs_budget_on_a_real_only_set_is_the_steps_budget() -> None:
    real = np.ones(80, bool)
    a = _batches(80, 16, 30, seed=1)
    b = _batches(80, 16, 30, seed=1, real=real, synthetic_prob=0.5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_green_share_and_flags_against_the_real_range() -> None:
    img = np.full((2, 10, 10, 3), (200, 120, 180), dtype=np.uint8)  # H&E pink: no green pixel
    img[1, :3, :] = (40, 220, 90)  # 30 green-dominant pixels of 100
    np.testing.assert_allclose(artefacts.green_share(img), [0.0, 0.3])
    real = img[:1].copy()
    real[0, 0, 0] = (10, 30, 20)  # one real green pixel: 1 % share, not above MIN_SHARE
    assert artefacts.threshold(real) == pytest.approx(0.01)
    assert artefacts.flags(img, real).tolist() == [False, True]


def test_detectable_difference_matches_the_hand_computation() -> None:
    from scipy import stats

    d = [-1.0, 0.5, 2.0]
    s = np.std(d, ddof=1)
    expected = (stats.t.ppf(0.975, 2) + stats.t.ppf(0.8, 2)) * s / np.sqrt(3)
    assert detectable_difference(d) == pytest.approx(expected)
    assert detectable_difference([1.0]) is None


def test_the_training_augmentation_draws_all_eight_orientations() -> None:
    from augdiff.classify.transforms import train_transform

    img = np.zeros((4, 4, 3), dtype=np.uint8)
    img[0, 1], img[0, 2] = 250, 120  # two markers: where they land tells the orientation, mirrors included
    transform = train_transform(0)
    seen = set()
    for _ in range(300):
        order = transform(image=img)["image"].astype(int).sum(-1).ravel().argsort()
        seen.add((order[-1], order[-2]))
    assert len(seen) == 8  # flips and 90° rotations: the whole dihedral group
