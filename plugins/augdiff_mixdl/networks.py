"""A small StyleGAN2 (Karras et al. 2020) generator and ResNet discriminator, the backbone MixDL regularises.

MixDL (Kong et al., ECCV 2022) is a training-loss change; the authors apply it to rosinality's StyleGAN2 with
CDC's patch discriminator. This is a compact re-implementation of what the loss needs from them:

- G: mapping network z → w (pixel norm, ``n_mlp`` equalised linear layers with lr multiplier 0.01), a learned
  4×4 constant, two modulated/demodulated 3×3 convs per resolution with per-pixel noise, and skip toRGB
  outputs. ``synthesis`` takes w directly (MixDL mixes in w space) and can return every conv's output.
- D: fromRGB, residual blocks halving the resolution down to 4×4, minibatch stddev, a conv and a dense layer
  giving a feature vector φ(x); the score is a linear map of φ. A linear *projection* of φ is what the
  discriminator-side distance loss compares (the authors' ``sim_linear``), and 3×3 conv *patch heads* on
  intermediate feature maps score local patches (CDC's patch-level adversarial loss, used on mixup steps).

Departures from StyleGAN2 for CPU budgets, none of which MixDL's loss depends on: bilinear resampling instead of
the FIR blur of ``upfirdn2d``, no style mixing and no path-length regulariser.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


def widths_for(image_size: int, fmap_base: int, fmap_max: int) -> dict[int, int]:
    """Channels per resolution 4 … image_size: min(fmap_max, fmap_base / res) (32768 / 512 = StyleGAN2 config-f)."""
    res = [4 * 2**i for i in range(int(math.log2(image_size)) - 1)]
    return {r: max(1, min(fmap_max, fmap_base // r)) for r in res}


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    # StyleGAN2's fused_lrelu: leaky ReLU scaled by √2 to keep activations' second moment.
    return F.leaky_relu(x, 0.2) * SQRT2


class EqualLinear(nn.Module):
    """Equalised-LR linear layer: N(0, 1/lr_mul²) weights scaled at run time by lr_mul/√fan_in."""

    def __init__(self, cin: int, cout: int, *, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activate: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.full((cout,), float(bias_init)))
        self.scale, self.lr_mul, self.activate = lr_mul / math.sqrt(cin), lr_mul, activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return _lrelu(out) if self.activate else out


class EqualConv2d(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, *, bias: bool = True, activate: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.scale, self.padding, self.activate = 1 / math.sqrt(cin * kernel * kernel), kernel // 2, activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)
        return _lrelu(out) if self.activate else out


class ModulatedConv2d(nn.Module):
    """Per-sample weights w'_{oik} = s_i·w_{oik}, demodulated to unit norm per output channel (StyleGAN2 §2.2)."""

    def __init__(self, cin: int, cout: int, kernel: int, w_dim: int, *, demodulate: bool = True,
                 upsample: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, cout, cin, kernel, kernel))
        self.modulation = EqualLinear(w_dim, cin, bias_init=1.0)  # styles start at 1: an unmodulated conv
        self.scale, self.padding = 1 / math.sqrt(cin * kernel * kernel), kernel // 2
        self.demodulate, self.upsample = demodulate, upsample

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        b, cin, h, wd = x.shape
        style = self.modulation(w).view(b, 1, cin, 1, 1)
        weight = self.scale * self.weight * style
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            h, wd = h * 2, wd * 2
        cout = weight.shape[1]
        out = F.conv2d(x.reshape(1, b * cin, h, wd), weight.reshape(b * cout, cin, *weight.shape[3:]),
                       padding=self.padding, groups=b)
        return out.view(b, cout, h, wd)


class StyledConv(nn.Module):
    """Modulated conv, then per-pixel noise times a learned strength (zero at init), bias and lrelu."""

    def __init__(self, cin: int, cout: int, w_dim: int, *, upsample: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(cin, cout, 3, w_dim, upsample=upsample)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(1, cout, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        out = self.conv(x, w)
        return _lrelu(out + self.noise_strength * noise + self.bias)


class ToRGB(nn.Module):
    def __init__(self, cin: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(cin, 3, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        out = self.conv(x, w) + self.bias
        if skip is not None:
            out = out + F.interpolate(skip, scale_factor=2, mode="bilinear", align_corners=False)
        return out


class MixGenerator(nn.Module):
    def __init__(self, image_size: int, *, latent_dim: int = 512, n_mlp: int = 8, fmap_base: int = 32768,
                 fmap_max: int = 512) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        widths = widths_for(image_size, fmap_base, fmap_max)
        res = sorted(widths)
        # lr multiplier 0.01 on the mapping network, as StyleGAN(2).
        self.mapping = nn.Sequential(*[EqualLinear(latent_dim, latent_dim, lr_mul=0.01, activate=True)
                                       for _ in range(n_mlp)])
        self.const = nn.Parameter(torch.randn(1, widths[4], 4, 4))
        self.convs = nn.ModuleList([StyledConv(widths[4], widths[4], latent_dim)])
        self.to_rgbs = nn.ModuleList([ToRGB(widths[4], latent_dim)])
        self.resolutions = [4]
        for lo, hi in itertools.pairwise(res):
            self.convs.append(StyledConv(widths[lo], widths[hi], latent_dim, upsample=True))
            self.convs.append(StyledConv(widths[hi], widths[hi], latent_dim))
            self.to_rgbs.append(ToRGB(widths[hi], latent_dim))
            self.resolutions += [hi, hi]

    @property
    def num_layers(self) -> int:
        """Styled convs, i.e. feature maps ``synthesis(..., return_feats=True)`` returns."""
        return len(self.convs)

    def map(self, z: torch.Tensor) -> torch.Tensor:
        z = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)  # pixel norm of the latent
        return self.mapping(z)

    def synthesis(
        self, w: torch.Tensor, *, generator: torch.Generator | None = None, return_feats: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """w (B, latent_dim) → image (B, 3, S, S), and each styled conv's output when asked."""
        b = len(w)
        # Noise is drawn where the generator lives (a seeded CPU stream gives the same images on any device).
        where = generator.device if generator is not None else w.device
        noise = [torch.randn(b, 1, r, r, generator=generator, device=where).to(w.device, w.dtype)
                 for r in self.resolutions]
        x = self.convs[0](self.const.expand(b, -1, -1, -1), w, noise[0])
        feats = [x]
        skip = self.to_rgbs[0](x, w, None)
        for i, to_rgb in enumerate(self.to_rgbs[1:]):
            x = self.convs[2 * i + 1](x, w, noise[2 * i + 1])
            feats.append(x)
            x = self.convs[2 * i + 2](x, w, noise[2 * i + 2])
            feats.append(x)
            skip = to_rgb(x, w, skip)
        return skip, (feats if return_feats else [])

    def forward(self, z: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.synthesis(self.map(z), generator=generator)[0]


class _DBlock(nn.Module):
    """Residual block: two 3×3 convs (the second after 2× average downsampling) plus a 1×1 skip, /√2."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(cin, cin, 3, activate=True)
        self.conv2 = EqualConv2d(cin, cout, 3, activate=True)
        self.skip = EqualConv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.avg_pool2d(self.conv1(x), 2))
        return (out + self.skip(F.avg_pool2d(x, 2))) / SQRT2


class MixDiscriminator(nn.Module):
    def __init__(self, image_size: int, *, fmap_base: int = 32768, fmap_max: int = 512,
                 patch_resolutions: tuple[int, ...] = (), mbstd_group: int = 4) -> None:
        super().__init__()
        widths = widths_for(image_size, fmap_base, fmap_max)
        res = sorted(widths, reverse=True)  # image_size … 4
        self.from_rgb = EqualConv2d(3, widths[image_size], 1, activate=True)
        self.blocks = nn.ModuleList(_DBlock(widths[hi], widths[lo]) for hi, lo in itertools.pairwise(res))
        self.block_resolutions = res[1:]  # each block's output resolution
        bad = [r for r in patch_resolutions if r not in self.block_resolutions[:-1]]
        if bad:
            raise ValueError(f"patch resolutions {bad} are not inner feature maps ({self.block_resolutions[:-1]})")
        self.patch_resolutions = list(patch_resolutions)
        self.patch_heads = nn.ModuleList(EqualConv2d(widths[r], 1, 3) for r in self.patch_resolutions)
        self.mbstd_group = mbstd_group
        c4 = widths[4]
        self.final_conv = EqualConv2d(c4 + 1, c4, 3, activate=True)
        self.dense = EqualLinear(c4 * 16, c4, activate=True)
        self.out = EqualLinear(c4, 1)
        self.sim_proj = EqualLinear(c4, c4)

    def _mbstd(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.mbstd_group, n)
        while n % g:
            g -= 1
        std = torch.sqrt(x.reshape(g, n // g, c, h, w).var(dim=0, unbiased=False) + 1e-8)
        stat = std.mean(dim=(1, 2, 3)).repeat(g).view(n, 1, 1, 1).expand(n, 1, h, w)
        return torch.cat([x, stat], dim=1)

    def forward(self, x: torch.Tensor, *, patch: int | None = None) -> torch.Tensor:
        """Scores: (B,) for the whole image, or (B, h·w) from patch head ``patch`` on its feature map."""
        h = self.from_rgb(x)
        for block, r in zip(self.blocks, self.block_resolutions):
            h = block(h)
            if patch is not None and r == self.patch_resolutions[patch]:
                return self.patch_heads[patch](h).flatten(1)
        return self.out(self._features(h)).squeeze(1)

    def _features(self, h: torch.Tensor) -> torch.Tensor:
        return self.dense(self.final_conv(self._mbstd(h)).flatten(1))

    def similarity_features(self, x: torch.Tensor) -> torch.Tensor:
        """The projected feature vector the discriminator-side distance loss compares (B, C)."""
        h = self.from_rgb(x)
        for block in self.blocks:
            h = block(h)
        return self.sim_proj(self._features(h))
