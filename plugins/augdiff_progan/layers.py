"""ProGAN's building blocks (Karras et al. 2018, §4): equalised learning rate, pixel norm, minibatch stddev.

Equalised learning rate (§4.1): weights are stored as N(0, 1) and multiplied at *run time* by the He constant
``gain / sqrt(fan_in)``. Adam's update is invariant to the scale of a parameter, so storing unit-variance weights
makes every layer learn at the same speed whatever its fan-in.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

HE_GAIN = math.sqrt(2.0)  # for layers followed by a (leaky) ReLU


class EqualizedLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, *, gain: float = HE_GAIN, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class EqualizedConv2d(nn.Module):
    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, *, gain: float = HE_GAIN, bias: bool = True
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit RMS (§4.2): stops G and D escalating magnitudes."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


class MinibatchStdDev(nn.Module):
    """Append one feature map: the std of features over groups of ``group_size`` samples, averaged (§3).

    D sees how varied a group of images is, which penalises a generator that collapses to few modes. When the
    batch is not divisible by the group size the largest group size that divides it is used.
    """

    def __init__(self, group_size: int = 4, eps: float = 1e-8) -> None:
        super().__init__()
        self.group_size, self.eps = group_size, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        while n % g:
            g -= 1
        y = x.reshape(g, n // g, c, h, w).float()
        std = torch.sqrt(y.var(dim=0, unbiased=False) + self.eps)  # (M, C, H, W)
        stat = std.mean(dim=(1, 2, 3)).to(x.dtype)  # (M,)
        stat = stat.repeat(g).reshape(n, 1, 1, 1).expand(n, 1, h, w)
        return torch.cat([x, stat], dim=1)
