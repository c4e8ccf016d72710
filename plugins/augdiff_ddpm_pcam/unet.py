"""The DDPM-PCam U-Net (paper §2.5): plain conv/BatchNorm/ReLU blocks, a time embedding added at every block input.

Blocks are numbered as in the paper's ``attention_layers``: encoders 1..D, bottleneck D+1, decoders D+2..2D+1
(D = depth; the paper has D = 4, so encoders 1–4, bottleneck 5, decoders 6–9). Self-attention, where asked for,
runs on the main path right after the numbered block; the paper's ablation used blocks 2, 4, 6 and 8.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

PAPER_WIDTHS = (64, 128, 256, 512, 1024)
PAPER_TIME_DIM = 512
ATTENTION_HEADS = 4


class SinusoidalTimeEmbedding(nn.Module):
    """Transformer positional encoding of the timestep (Vaswani et al.), sin and cos interleaved."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"time embedding dim must be even, got {dim}")
        freqs = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t.float()[:, None] * self.freqs[None, :]
        return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(1)


class BaseBlock(nn.Module):
    """Add Linear(temb → input width) to the input, then (3x3 conv → BatchNorm → ReLU) twice; no residual."""

    def __init__(self, in_channels: int, out_channels: int, time_dim: int) -> None:
        super().__init__()
        self.time = nn.Linear(time_dim, in_channels)
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        return self.layers(x + self.time(temb)[:, :, None, None].to(x.dtype))


class EncoderBlock(nn.Module):
    """Base block then 2x2 max-pool; returns (pooled, pre-pool skip)."""

    def __init__(self, in_channels: int, out_channels: int, time_dim: int) -> None:
        super().__init__()
        self.base = BaseBlock(in_channels, out_channels, time_dim)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.base(x, temb)
        return F.max_pool2d(skip, 2), skip


class DecoderBlock(nn.Module):
    """2x2 transposed conv (doubling the size, halving the width), concatenate the skip, Base block."""

    def __init__(self, in_channels: int, out_channels: int, time_dim: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        self.base = BaseBlock(2 * out_channels, out_channels, time_dim)

    def forward(self, x: torch.Tensor, skip: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        return self.base(torch.cat((self.up(x), skip), dim=1), temb)


class SelfAttention(nn.Module):
    """Pre-LayerNorm multi-head self-attention over pixels, then a GELU feed-forward; both residual.

    The feed-forward keeps the width (Linear C→C, GELU, Linear C→C) as the paper's cited block does.
    """

    def __init__(self, channels: int, heads: int = ATTENTION_HEADS) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"attention width {channels} is not divisible by {heads} heads")
        self.heads = heads
        self.norm = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.ff = nn.Sequential(
            nn.LayerNorm(channels), nn.Linear(channels, channels), nn.GELU(), nn.Linear(channels, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (B, HW, C)
        q, k, v = self.qkv(self.norm(tokens)).view(b, h * w, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, h * w, c)
        tokens = tokens + self.proj(attended)
        tokens = tokens + self.ff(tokens)
        return tokens.transpose(1, 2).reshape(b, c, h, w)


def paper_attention_positions(depth: int) -> list[int]:
    """The paper's 'self' placement generalised to any depth: every second encoder level and its mirror decoder.

    For depth 4 this gives [2, 4, 6, 8] (encoder 2 and 4, decoder 6 and 8 — the same 128/512-wide maps).
    """
    levels = list(range(2, depth + 1, 2)) or [1]
    return sorted(levels + [2 * depth + 2 - level for level in levels])


def block_widths(widths: Sequence[int]) -> dict[int, int]:
    """Output width of every numbered block (where an attention block would sit)."""
    depth = len(widths) - 1
    out = {level: widths[level - 1] for level in range(1, depth + 1)}
    out[depth + 1] = widths[depth]
    for i, level in enumerate(range(depth + 2, 2 * depth + 2)):
        out[level] = widths[depth - 1 - i]
    return out


class PaperUNet(nn.Module):
    """ε-predicting U-Net of DDPM-PCam; ``widths`` = encoder widths then the bottleneck width.

    ``PaperUNet()`` is the paper's model (64→512, bottleneck 1024, 512-d time embedding, 32.8 M parameters without
    attention). Input sizes must be divisible by 2**depth, depth = len(widths) - 1.
    """

    def __init__(
        self,
        widths: Sequence[int] = PAPER_WIDTHS,
        *,
        in_channels: int = 3,
        out_channels: int = 3,
        time_dim: int = PAPER_TIME_DIM,
        attention: Sequence[int] = (),
        heads: int = ATTENTION_HEADS,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) < 2:
            raise ValueError("widths needs at least one encoder width and the bottleneck width")
        self.depth = len(widths) - 1
        outputs = block_widths(widths)
        bad = sorted(set(attention) - set(outputs))
        if bad:
            raise ValueError(f"attention positions {bad} do not exist; blocks are numbered 1..{len(outputs)}")
        self.attention_positions = sorted(set(int(p) for p in attention))
        self.time_embed = SinusoidalTimeEmbedding(time_dim)
        self.time_proj = nn.Linear(time_dim, time_dim)  # the paper's single linear layer, no activation
        chans = [in_channels, *widths]
        self.encoders = nn.ModuleList(EncoderBlock(chans[i], chans[i + 1], time_dim) for i in range(self.depth))
        self.bottleneck = BaseBlock(widths[-2], widths[-1], time_dim)
        self.decoders = nn.ModuleList(
            DecoderBlock(widths[i + 1], widths[i], time_dim) for i in reversed(range(self.depth))
        )
        self.attention = nn.ModuleDict(
            {str(p): SelfAttention(outputs[p], heads) for p in self.attention_positions}
        )
        self.head = nn.Conv2d(widths[0], out_channels, 1)
        self.channels_last = channels_last
        if channels_last:  # oneDNN's convolutions run natively on NHWC; keep weights and activations in it
            self.to(memory_format=torch.channels_last)

    def _attend(self, position: int, x: torch.Tensor) -> torch.Tensor:
        key = str(position)
        return self.attention[key](x) if key in self.attention else x

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % (1 << self.depth) or x.shape[-2] % (1 << self.depth):
            raise ValueError(f"image size {tuple(x.shape[-2:])} is not divisible by 2**{self.depth}")
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        temb = self.time_proj(self.time_embed(t))
        skips = []
        position = 1
        for encoder in self.encoders:
            x, skip = encoder(x, temb)
            skips.append(skip)
            x = self._attend(position, x)
            position += 1
        x = self._attend(position, self.bottleneck(x, temb))
        position += 1
        for decoder in self.decoders:
            x = self._attend(position, decoder(x, skips.pop(), temb))
            position += 1
        return self.head(x)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
