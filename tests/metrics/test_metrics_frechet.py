"""Fréchet distance and KID against closed forms and hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from augdiff.metrics.frechet import (
    GaussianStats,
    frechet_distance,
    frechet_distance_features,
    kernel_distance,
    mmd2_unbiased,
    trace_sqrt_product,
)


def _scipy_fd(x: np.ndarray, y: np.ndarray) -> float:
    """The textbook formula with scipy's general matrix square root, as pytorch-fid computes it."""
    a, b = GaussianStats.of(x), GaussianStats.of(y)
    covmean = scipy.linalg.sqrtm(a.sigma @ b.sigma).real
    return float(((a.mu - b.mu) ** 2).sum() + np.trace(a.sigma + b.sigma - 2 * covmean))


@pytest.mark.parametrize("n, d", [(200, 8), (20, 64)])  # full-rank path and the n < d (low-rank) path
def test_set_with_itself_is_zero(n: int, d: int) -> None:
    x = np.random.default_rng(0).normal(size=(n, d)) * 3 + 1
    assert frechet_distance_features(x, x) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance_features(x, x.copy()[::-1]) == pytest.approx(0.0, abs=1e-8)


def test_closed_form_for_diagonal_gaussians() -> None:
    # For diagonal covariances FD = |mu1 - mu2|² + sum_i (s1_i^{1/2} - s2_i^{1/2})².
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    exact = frechet_distance(GaussianStats(mu1, np.diag(v1), 0), GaussianStats(mu2, np.diag(v2), 0))
    assert exact == pytest.approx(expected, rel=1e-12)
    rng = np.random.default_rng(1)
    x = mu1 + rng.normal(size=(40000, 3)) * np.sqrt(v1)
    y = mu2 + rng.normal(size=(40000, 3)) * np.sqrt(v2)
    assert frechet_distance_features(x, y) == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize("n, m, d", [(50, 60, 16), (12, 30, 40), (10, 10, 100)])
def test_both_paths_match_scipy_sqrtm(n: int, m: int, d: int) -> None:
    rng = np.random.default_rng(n + d)
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.3
    y = rng.normal(size=(m, d)) * 1.5 + 0.2
    reference = _scipy_fd(x, y)
    assert frechet_distance_features(x, y) == pytest.approx(reference, rel=1e-6)
    assert frechet_distance(GaussianStats.of(x), GaussianStats.of(y)) == pytest.approx(reference, rel=1e-6)


def test_trace_sqrt_product_of_commuting_matrices() -> None:
    a, b = np.diag([4.0, 9.0, 0.0]), np.diag([1.0, 4.0, 5.0])
    assert trace_sqrt_product(a, b) == pytest.approx(2.0 + 6.0 + 0.0)


def _kernel(u: np.ndarray, v: np.ndarray) -> float:
    return (float(np.dot(u, v)) / len(u) + 1.0) ** 3


def test_mmd2_unbiased_matches_hand_computation() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(5, 3)) + 0.5
    kxx = sum(_kernel(x[i], x[j]) for i in range(4) for j in range(4) if i != j) / (4 * 3)
    kyy = sum(_kernel(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / (5 * 4)
    kxy = sum(_kernel(x[i], y[j]) for i in range(4) for j in range(5)) / (4 * 5)
    assert mmd2_unbiased(x, y) == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-12)


def test_kid_is_unbiased_on_a_toy() -> None:
    """Mean over many small-sample draws matches the true MMD² (0 for equal distributions); the V-statistic,
    which keeps the diagonal, does not: so this test can tell an unbiased estimator from a biased one."""
    rng = np.random.default_rng(3)
    draws, n, d = 400, 8, 4

    def biased(x: np.ndarray, y: np.ndarray) -> float:
        from augdiff.metrics.frechet import polynomial_kernel as k

        return float(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())

    same = np.array([mmd2_unbiased(rng.normal(size=(n, d)), rng.normal(size=(n, d))) for _ in range(draws)])
    se = same.std() / np.sqrt(draws)
    assert abs(same.mean()) < 3.5 * se
    v_stat = np.array([biased(rng.normal(size=(n, d)), rng.normal(size=(n, d))) for _ in range(draws)])
    assert v_stat.mean() > 10 * se

    shift = 0.6
    big = 1500  # the unbiased estimate on large samples stands in for the population MMD²
    truth = mmd2_unbiased(rng.normal(size=(big, d)), rng.normal(size=(big, d)) + shift)
    small = np.array([mmd2_unbiased(rng.normal(size=(n, d)), rng.normal(size=(n, d)) + shift) for _ in range(draws)])
    assert truth > 0.05
    assert small.mean() == pytest.approx(truth, abs=3.5 * small.std() / np.sqrt(draws) + 0.01 * truth)


def test_kernel_distance_subsets_and_seed() -> None:
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(30, 6)), rng.normal(size=(20, 6)) + 1.0
    a = kernel_distance(real, fake, rng=np.random.default_rng(7), subsets=20)
    b = kernel_distance(real, fake, rng=np.random.default_rng(7), subsets=20)
    assert a == b
    assert a.subset_size == 20 and a.subsets == 20
    assert a.mean > 0
    assert kernel_distance(real, fake, rng=np.random.default_rng(7), subsets=5, max_subset_size=10).subset_size == 10
    whole = kernel_distance(real[:20], fake, rng=np.random.default_rng(7))  # subsets would all be the full sets
    assert (whole.subsets, whole.std) == (1, 0.0) and whole.mean == pytest.approx(mmd2_unbiased(fake, real[:20]))
