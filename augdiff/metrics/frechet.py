"""Fréchet distance and kernel (MMD) distance between two sets of feature vectors.

FID (Heusel et al. 2017) fits a Gaussian to each feature set and reports
``||mu1 - mu2||² + tr(S1 + S2 - 2 (S1 S2)^{1/2})``. KID (Bińkowski et al. 2018, "Demystifying MMD GANs") is the
unbiased estimate of the squared MMD with the cubic polynomial kernel ``k(x, y) = (x·y / d + 1)³``, averaged over
random subsets exactly as clean-fid and torch-fidelity do (100 subsets of at most 1000 samples per side).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GaussianStats:
    """Mean and (unbiased, N-1) covariance of a feature set, as FID uses them."""

    mu: np.ndarray  # (d,)
    sigma: np.ndarray  # (d, d)
    n: int

    @staticmethod
    def of(features: np.ndarray) -> GaussianStats:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"need at least 2 feature vectors of shape (N, d), got {x.shape}")
        return GaussianStats(x.mean(axis=0), np.cov(x, rowvar=False), len(x))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(matrix)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr((S1 S2)^{1/2})`` for symmetric PSD ``S1``, ``S2``.

    ``S1 S2`` is similar to the symmetric PSD matrix ``S1^{1/2} S2 S1^{1/2}``, so both have the same (real,
    non-negative) eigenvalues and the trace of the square root is the sum of their square roots. Two symmetric
    eigendecompositions replace ``scipy.linalg.sqrtm`` of a non-symmetric product: exact, never complex, and
    well defined when the covariances are singular (fewer samples than feature dimensions).
    """
    root = _psd_sqrt(sigma1)
    middle = root @ sigma2 @ root
    vals = np.linalg.eigvalsh((middle + middle.T) / 2.0)
    return float(np.sqrt(np.clip(vals, 0.0, None)).sum())


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu_a, S_a) and N(mu_b, S_b)."""
    diff = a.mu - b.mu
    value = float(diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2.0 * trace_sqrt_product(a.sigma, b.sigma))
    # Round-off can push the distance of a set to itself a hair below zero.
    return max(value, 0.0)


def frechet_distance_features(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between the Gaussians fitted to feature sets ``x`` (N, d) and ``y`` (M, d).

    With fewer samples than dimensions (the usual case for 2048-d Inception features on small histology sets)
    the covariances are ``S_x = A^T A`` and ``S_y = B^T B`` with A, B the centred features over sqrt(N-1). The
    non-zero eigenvalues of ``S_x S_y`` are those of ``(A B^T)(A B^T)^T``, so ``tr((S_x S_y)^{1/2})`` is the sum of
    the singular values of the small N x M matrix ``A B^T``: same value, no d x d matrix functions.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if min(len(x), len(y)) >= x.shape[1]:
        return frechet_distance(GaussianStats.of(x), GaussianStats.of(y))
    if min(len(x), len(y)) < 2:
        raise ValueError("need at least 2 feature vectors per set")
    a = (x - x.mean(0)) / np.sqrt(len(x) - 1)
    b = (y - y.mean(0)) / np.sqrt(len(y) - 1)
    diff = x.mean(0) - y.mean(0)
    tr_sqrt = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    value = float(diff @ diff + (a * a).sum() + (b * b).sum() - 2.0 * tr_sqrt)
    return max(value, 0.0)


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The KID kernel ``(x·y / d + 1)^3`` (Bińkowski et al. 2018, §4)."""
    d = x.shape[1]
    return (x @ y.T / d + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² estimate: off-diagonal means of k(x, x') and k(y, y') minus twice the mean of k(x, y).

    The within-set sums leave out the diagonal (a sample compared with itself), which is what makes the estimate
    unbiased; its expectation is exactly zero when both sets come from the same distribution.
    """
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError("the unbiased MMD needs at least 2 samples per set")
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * kxy.mean())


@dataclass(frozen=True)
class KernelDistance:
    mean: float
    std: float
    subsets: int
    subset_size: int


def kernel_distance(
    real: np.ndarray, fake: np.ndarray, *, rng: np.random.Generator, subsets: int = 100, max_subset_size: int = 1000
) -> KernelDistance:
    """KID: the unbiased MMD² averaged over ``subsets`` random subsets of ``min(n_real, n_fake, 1000)`` each.

    Subsets are drawn without replacement within a subset (as clean-fid ``kernel_distance`` and torch-fidelity's
    ``kid_subset_size`` do); the spread over subsets is reported as ``std``.
    """
    real = np.asarray(real, dtype=np.float64)
    fake = np.asarray(fake, dtype=np.float64)
    m = min(len(real), len(fake), max_subset_size)
    if m < 2:
        raise ValueError("KID needs at least 2 samples on each side")
    if m == len(real) == len(fake):
        # Every "subset" would be the whole of both sets: one exact evaluation, no spread to report.
        return KernelDistance(mmd2_unbiased(fake, real), 0.0, 1, m)
    values = np.empty(subsets)
    for i in range(subsets):
        x = fake[rng.choice(len(fake), m, replace=False)]
        y = real[rng.choice(len(real), m, replace=False)]
        values[i] = mmd2_unbiased(x, y)
    return KernelDistance(float(values.mean()), float(values.std()), subsets, m)
