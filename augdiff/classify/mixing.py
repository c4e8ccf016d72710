"""Batch-level Mixup (Zhang et al., ICLR 2018) and CutMix (Yun et al., ICCV 2019) on soft targets.

Both act on a float image batch ``x`` (N, C, H, W) and its probability targets ``y`` (N, K) after the per-image
augmentation, pairing each sample with a partner from a random permutation of the batch (as both papers' code
does) and mixing the targets with the same λ as the pixels, so ``soft_cross_entropy`` needs no change. Every
random number comes from the ``torch.Generator`` passed in: the same seed replays the same stream.

timm's ``timm.data.Mixup`` is not used: it draws from NumPy's *global* RNG (reproducible only by seeding and
sharing process-wide state), mixes each sample with the reversed batch instead of a random partner, mixes in
place, and takes soft targets only through its multi-label path. torchvision's v2 MixUp/CutMix draw from torch's
global RNG and take integer labels only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from scipy.special import betaincinv

MixKind = Literal["mixup", "cutmix"]
DEFAULT_ALPHA: dict[str, float] = {"mixup": 0.2, "cutmix": 1.0}  # Zhang et al.'s ImageNet α; Yun et al.'s α


def beta_sample(alpha: float, generator: torch.Generator) -> float:
    """λ ~ Beta(α, α) by inverse CDF of one uniform from ``generator`` (torch's Beta sampler takes no generator)."""
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    u = torch.rand((), generator=generator, dtype=torch.float64, device=generator.device).item()
    return float(betaincinv(alpha, alpha, u))


def _partners(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randperm(n, generator=generator, device=generator.device).to(device)


def _check(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.ndim != 4 or y.ndim != 2 or len(x) != len(y):
        raise ValueError(f"expected x (N, C, H, W) and y (N, K) with the same N, got {tuple(x.shape)}, "
                         f"{tuple(y.shape)}")


def mixup(
    x: torch.Tensor, y: torch.Tensor, alpha: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """x' = λx + (1−λ)x[π], y' = λy + (1−λ)y[π] with λ ~ Beta(α, α) and π a random permutation."""
    _check(x, y)
    lam = beta_sample(alpha, generator)
    perm = _partners(len(x), generator, x.device)
    return lam * x + (1.0 - lam) * x[perm], lam * y + (1.0 - lam) * y[perm]


def cutmix_box(height: int, width: int, lam: float, generator: torch.Generator) -> tuple[int, int, int, int]:
    """Yun et al.'s box: sides H·√(1−λ), W·√(1−λ) around a uniform centre, clipped to the image.

    Returns ``(top, bottom, left, right)`` (half-open). Odd sides are kept whole (timm's fix of the official code,
    which drops a row/column), and the clipping is what makes the area differ from (1−λ)·H·W.
    """
    ratio = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy = int(torch.randint(height, (), generator=generator, device=generator.device))
    cx = int(torch.randint(width, (), generator=generator, device=generator.device))
    top, bottom = max(cy - cut_h // 2, 0), min(cy + (cut_h + 1) // 2, height)
    left, right = max(cx - cut_w // 2, 0), min(cx + (cut_w + 1) // 2, width)
    return top, bottom, left, right


def cutmix(
    x: torch.Tensor, y: torch.Tensor, alpha: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste one box of each partner x[π] into x; λ becomes the kept area fraction, y' = λy + (1−λ)y[π]."""
    _check(x, y)
    height, width = x.shape[-2:]
    top, bottom, left, right = cutmix_box(height, width, beta_sample(alpha, generator), generator)
    perm = _partners(len(x), generator, x.device)
    mixed = x.clone()
    mixed[:, :, top:bottom, left:right] = x[perm][:, :, top:bottom, left:right]
    # The label weight is the pixel share actually kept, not the drawn λ (the box may have been clipped).
    lam = 1.0 - (bottom - top) * (right - left) / (height * width)
    return mixed, lam * y + (1.0 - lam) * y[perm]


@dataclass(frozen=True)
class BatchMix:
    """One mixing recipe, applied to a whole batch with probability ``prob`` (JSON-able via :meth:`to_dict`)."""

    kind: MixKind
    alpha: float | None = None  # None: 0.2 for mixup, 1.0 for cutmix
    prob: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in DEFAULT_ALPHA:
            raise ValueError(f"unknown batch mix {self.kind!r}: expected one of {sorted(DEFAULT_ALPHA)}")
        if self.alpha is None:
            object.__setattr__(self, "alpha", DEFAULT_ALPHA[self.kind])
        assert self.alpha is not None
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")
        if not 0.0 <= self.prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {self.prob}")

    def apply(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # One draw for the coin on every call, so the stream's layout does not depend on ``prob``.
        apply = torch.rand((), generator=generator, device=generator.device).item() < self.prob
        if not apply:
            return x, y
        assert self.alpha is not None
        return (mixup if self.kind == "mixup" else cutmix)(x, y, self.alpha, generator)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
