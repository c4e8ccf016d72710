"""The DDPM-PCam paper's two ablation figures (§3.1): SSIM and the pixel BCE "log likelihood" (Eq. 19).

The paper's evaluation code was never published, so augdiff fixes one precise reading of §3.1 and documents it:

- the held-out real images of the class are shuffled (seeded) and cut into 5 folds; fold k is paired 1:1 with the
  k-th block of generated images, in order — generated and real images are *unpaired* in content, as they must
  have been in the paper (an unconditional model cannot draw "the same" image);
- SSIM (Eq. 18, torchmetrics' Gaussian-window SSIM, data range 1) is computed per (generated, real) pair on
  [0, 1] RGB and averaged over the fold;
- BCE (Eq. 19) treats each real pixel value y ∈ [0, 1] as the target and the generated value p at the same
  position as the prediction: −[y log p + (1 − y) log(1 − p)] averaged over every pixel and channel of the fold
  (p clamped to [1e-6, 1 − 1e-6]); its floor is the mean binary entropy of the real pixels, not 0;
- each figure is the mean over the 5 folds; the spread (std over folds) is reported next to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics.functional.image import structural_similarity_index_measure

FOLDS = 5
BCE_EPS = 1e-6
SSIM_KERNEL = 11  # Wang et al. 2004 and torchmetrics' default Gaussian window


@dataclass
class FoldScores:
    ssim: list[float]
    bce: list[float]

    @property
    def ssim_mean(self) -> float:
        return float(np.mean(self.ssim))

    @property
    def ssim_std(self) -> float:
        return float(np.std(self.ssim))

    @property
    def bce_mean(self) -> float:
        return float(np.mean(self.bce))

    @property
    def bce_std(self) -> float:
        return float(np.std(self.bce))


def _unit(images: np.ndarray) -> torch.Tensor:
    """uint8 NHWC → float NCHW in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(255.0)


def ssim_kernel(size: int) -> int:
    """The standard 11-px window, shrunk to the largest odd size that fits smaller (smoke) images."""
    return min(SSIM_KERNEL, size if size % 2 else size - 1)


def pair_ssim(generated: np.ndarray, real: np.ndarray) -> float:
    """Mean SSIM of generated[i] against real[i] (uint8 NHWC, same shape)."""
    g, r = _unit(generated), _unit(real)
    value = structural_similarity_index_measure(
        g, r, data_range=1.0, kernel_size=ssim_kernel(min(g.shape[-2:])), reduction="elementwise_mean"
    )
    return float(value)


def pixel_bce(generated: np.ndarray, real: np.ndarray) -> float:
    """Eq. 19 with real pixels as targets y and generated pixels as predictions p, mean over pixels."""
    p = _unit(generated).clamp(BCE_EPS, 1.0 - BCE_EPS)
    return float(F.binary_cross_entropy(p, _unit(real)))


def fold_indices(n: int, rng: np.random.Generator, folds: int = FOLDS) -> list[np.ndarray]:
    """A seeded shuffle of range(n) cut into ``folds`` near-equal folds."""
    if n < folds:
        raise ValueError(f"need at least {folds} held-out images for {folds} folds, got {n}")
    return np.array_split(rng.permutation(n), folds)


def score_folds(generated: np.ndarray, real: np.ndarray, folds: list[np.ndarray]) -> FoldScores:
    """Scores per fold: real[fold k] against the next len(fold k) generated images."""
    if len(generated) < sum(len(f) for f in folds):
        raise ValueError(f"{len(generated)} generated images for {sum(len(f) for f in folds)} real ones")
    ssim, bce, start = [], [], 0
    for fold in folds:
        gen = generated[start : start + len(fold)]
        start += len(fold)
        ssim.append(pair_ssim(gen, real[fold]))
        bce.append(pixel_bce(gen, real[fold]))
    return FoldScores(ssim, bce)
