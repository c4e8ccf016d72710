"""Progressively grown generator and discriminator (Karras et al. 2018, Table 2 and Fig. 2).

Both networks are built for the final resolution up front; ``stage`` selects how many resolution blocks are
active (stage 0 = 4x4, stage k = 4·2^k px) and ``alpha`` fades the newest block in. During a fade the output is
``lerp(upsample(toRGB_{k-1}(h)), toRGB_k(block_k(h)), alpha)``, so at ``alpha = 0`` the grown generator gives
exactly the upsampled image of the smaller one (and the discriminator, symmetrically, sees a downsampled input).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from augdiff_progan.layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm


def num_stages(image_size: int) -> int:
    """4 → 1 stage, 8 → 2, …; the image size must be 4·2^k."""
    k = math.log2(image_size / 4)
    if image_size < 4 or k != int(k):
        raise ValueError(f"image_size must be 4·2^k (4, 8, 16, 32, 64, …), got {image_size}")
    return int(k) + 1


def stage_channels(stage: int, fmap_base: int, fmap_max: int) -> int:
    """Feature maps at ``stage`` (the paper's nf(): halve per doubling of resolution, capped at fmap_max)."""
    return max(1, min(fmap_base // (2 ** (stage + 1)), fmap_max))


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class _GBlock(nn.Module):
    """Upsample ×2 (nearest), then two 3x3 conv → leaky ReLU → pixel norm."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = EqualizedConv2d(in_ch, out_ch, 3), EqualizedConv2d(out_ch, out_ch, 3)
        self.norm = PixelNorm()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.norm(_lrelu(self.conv2(self.norm(_lrelu(self.conv1(x))))))


class ProGenerator(nn.Module):
    """Latent (+ class embedding) → 4x4 → … → image; outputs are linear (images live in [-1, 1])."""

    def __init__(
        self,
        image_size: int,
        *,
        latent_dim: int = 512,
        fmap_base: int = 8192,
        fmap_max: int = 512,
        num_classes: int | None = None,
        channels: int = 3,
    ) -> None:
        super().__init__()
        self.stages, self.latent_dim, self.num_classes = num_stages(image_size), latent_dim, num_classes
        widths = [stage_channels(s, fmap_base, fmap_max) for s in range(self.stages)]
        # Conditioning as in the official code: the label is concatenated to the latent before the first pixel
        # norm; a learned embedding of the latent's width stands in for the one-hot vector.
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        in_dim = latent_dim * (2 if num_classes else 1)
        self.norm = PixelNorm()
        # The 4x4 "dense" layer is a linear map to 16 pixels; gain sqrt(2)/4 as in the official implementation.
        self.dense = EqualizedLinear(in_dim, widths[0] * 16, gain=math.sqrt(2) / 4)
        self.conv0 = EqualizedConv2d(widths[0], widths[0], 3)
        self.blocks = nn.ModuleList(_GBlock(widths[s - 1], widths[s]) for s in range(1, self.stages))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(w, channels, 1, gain=1.0) for w in widths)

    def forward(
        self, z: torch.Tensor, y: torch.Tensor | None = None, *, stage: int | None = None, alpha: float = 1.0
    ) -> torch.Tensor:
        stage = self.stages - 1 if stage is None else stage
        if self.embed is not None:
            if y is None:
                raise ValueError("a class-conditional generator needs labels y")
            z = torch.cat([z, self.embed(y)], dim=1)
        h = self.norm(z)
        h = self.norm(_lrelu(self.dense(h).reshape(len(z), -1, 4, 4)))
        h = self.norm(_lrelu(self.conv0(h)))
        for s in range(1, stage):
            h = self.blocks[s - 1](h)
        if stage == 0:
            return self.to_rgb[0](h)
        new = self.to_rgb[stage](self.blocks[stage - 1](h))
        if alpha >= 1.0:
            return new
        old = F.interpolate(self.to_rgb[stage - 1](h), scale_factor=2, mode="nearest")
        return torch.lerp(old, new, alpha)


class _DBlock(nn.Module):
    """Two 3x3 conv → leaky ReLU, then 2x2 average pool."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = EqualizedConv2d(in_ch, in_ch, 3), EqualizedConv2d(in_ch, out_ch, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(_lrelu(self.conv2(_lrelu(self.conv1(x)))), 2)


class ProDiscriminator(nn.Module):
    """Image → … → 4x4 → minibatch stddev → score; class-conditional via a projection head.

    Conditioning uses the projection discriminator (Miyato & Koyama 2018): ``score = w·φ(x) + <e_y, φ(x)>``.
    It keeps a single scalar critic, so the WGAN-GP loss and its gradient penalty apply unchanged.
    """

    def __init__(
        self,
        image_size: int,
        *,
        fmap_base: int = 8192,
        fmap_max: int = 512,
        num_classes: int | None = None,
        channels: int = 3,
        mbstd_group: int = 4,
    ) -> None:
        super().__init__()
        self.stages = num_stages(image_size)
        widths = [stage_channels(s, fmap_base, fmap_max) for s in range(self.stages)]
        self.from_rgb = nn.ModuleList(EqualizedConv2d(channels, w, 1) for w in widths)
        # blocks[s - 1] takes stage s features (4·2^s px) down to stage s - 1.
        self.blocks = nn.ModuleList(_DBlock(widths[s], widths[s - 1]) for s in range(1, self.stages))
        self.mbstd = MinibatchStdDev(mbstd_group)
        self.conv = EqualizedConv2d(widths[0] + 1, widths[0], 3)
        self.dense = EqualizedLinear(widths[0] * 16, widths[0])
        self.out = EqualizedLinear(widths[0], 1, gain=1.0)
        self.embed = nn.Embedding(num_classes, widths[0]) if num_classes else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, std=1.0 / math.sqrt(widths[0]))

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None, *, stage: int | None = None, alpha: float = 1.0
    ) -> torch.Tensor:
        stage = self.stages - 1 if stage is None else stage
        h = _lrelu(self.from_rgb[stage](x))
        if stage > 0:
            h = self.blocks[stage - 1](h)
            if alpha < 1.0:
                old = _lrelu(self.from_rgb[stage - 1](F.avg_pool2d(x, 2)))
                h = torch.lerp(old, h, alpha)
            for s in range(stage - 1, 0, -1):
                h = self.blocks[s - 1](h)
        h = _lrelu(self.conv(self.mbstd(h)))
        feat = _lrelu(self.dense(h.flatten(1)))
        score = self.out(feat).squeeze(1)
        if self.embed is not None:
            if y is None:
                raise ValueError("a class-conditional discriminator needs labels y")
            score = score + (self.embed(y) * feat).sum(dim=1)
        return score
