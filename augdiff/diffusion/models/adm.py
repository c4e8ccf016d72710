"""ADM-style U-Net: residual blocks with GroupNorm/SiLU and scale-shift time conditioning, self-attention at
chosen resolutions, optional class conditioning and a configurable output width (2C for IDDPM's learned variance).

Two attention kinds implement the ADD paper's hybrid attention strategy (HAS, §2.2):

- ``global`` (global priority): q, k and v come from ONE dense 1x1 projection over all channels, and are split
  into heads afterwards, so every head sees every input channel.
- ``local`` (local priority): the channels are split into head groups first, and each group computes its own q, k
  and v with its own projection (a grouped, block-diagonal 1x1 convolution): no mixing across groups before the
  attention. It has ``heads`` times fewer projection weights than ``global``.

The authors' code made the two differ only by a channel permutation of the same dense projection (identical
capacity) and loaded checkpoints non-strictly; here the parameters have different names and shapes, and
``load_state_dict`` refuses weights of the other kind with an :class:`AugdiffError`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from augdiff.errors import AugdiffError

ATTENTION_KINDS = ("global", "local")
# Parameter names that only one attention kind has: they identify the kind a state dict was saved from.
_KIND_MARKERS = {"global": ".qkv.weight", "local": ".qkv_grouped.weight"}


Norm = Callable[[int], nn.GroupNorm]


def group_norm(channels: int, min_channels_per_group: int = 4) -> nn.GroupNorm:
    """ADM's GroupNorm with 32 groups, fewer where the width is small so each group keeps
    ``min_channels_per_group`` channels. A one-channel group is InstanceNorm: it strips every image's per-channel
    mean, i.e. its colour, at every block, and at base width 32 ADM's fixed 32 groups did exactly that (samples
    with wrong, saturated colours). ADM's own widths (≥ 128) keep 32 groups either way.
    """
    groups = 32
    while groups > 1 and (channels % groups or channels // groups < min_channels_per_group):
        groups //= 2
    return nn.GroupNorm(groups, channels)


def _zero(module: nn.Module) -> nn.Module:
    """Zero-initialise the last layer of a residual branch so every block starts as the identity (ADM)."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly respaced) integer timesteps, [cos | sin] halves as in ADM."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


class ResBlock(nn.Module):
    """GroupNorm → SiLU → conv, then the embedding as scale-shift on the second norm (ADM's ``use_scale_shift_norm``)."""

    def __init__(
        self, channels: int, emb_channels: int, out_channels: int, dropout: float, norm: Norm = group_norm
    ) -> None:
        super().__init__()
        self.in_layers = nn.Sequential(norm(channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels))
        self.out_norm = norm(out_channels)
        self.out_layers = nn.Sequential(
            nn.SiLU(), nn.Dropout(dropout), _zero(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        )
        self.skip = nn.Identity() if channels == out_channels else nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x)
        scale, shift = self.emb_layers(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.out_norm(h) * (1 + scale) + shift
        return self.skip(x) + self.out_layers(h)


class _Attention(nn.Module):
    """Shared part of both kinds: norm, multi-head attention over the H·W positions, output projection, residual."""

    def __init__(self, channels: int, num_head_channels: int, norm: Norm = group_norm) -> None:
        super().__init__()
        if channels % num_head_channels and num_head_channels < channels:
            raise AugdiffError(
                f"num_head_channels={num_head_channels} does not divide the attention width {channels}; "
                "choose a divisor of the U-Net's channel widths"
            )
        self.channels = channels
        self.heads = max(1, channels // num_head_channels)
        self.norm = norm(channels)
        self.proj_out = _zero(nn.Conv1d(channels, channels, 1))

    def _qkv(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, C, L) → q, k, v each (B, heads, L, C/heads)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hgt, wid = x.shape
        h = self.norm(x).reshape(b, c, hgt * wid)
        q, k, v = self._qkv(h)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, L, d)
        out = out.transpose(2, 3).reshape(b, c, hgt * wid)
        return x + self.proj_out(out).reshape(b, c, hgt, wid)


class GlobalAttention(_Attention):
    """Global priority: one dense projection to q, k, v over all channels, then split into heads."""

    kind = "global"

    def __init__(self, channels: int, num_head_channels: int, norm: Norm = group_norm) -> None:
        super().__init__(channels, num_head_channels, norm)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)

    def _qkv(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, _, length = h.shape
        q, k, v = self.qkv(h).chunk(3, dim=1)  # split into q, k, v first ...
        return tuple(z.reshape(b, self.heads, -1, length).transpose(2, 3) for z in (q, k, v))  # ... then heads


class LocalAttention(_Attention):
    """Local priority: channels split into head groups first; each group has its own q, k, v projection."""

    kind = "local"

    def __init__(self, channels: int, num_head_channels: int, norm: Norm = group_norm) -> None:
        super().__init__(channels, num_head_channels, norm)
        # groups=heads makes the 1x1 convolution block-diagonal: group g's q, k, v see only group g's channels.
        self.qkv_grouped = nn.Conv1d(channels, 3 * channels, 1, groups=self.heads)

    def _qkv(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, _, length = h.shape
        # Output channels of a grouped conv are laid out group by group: [q_g, k_g, v_g] for g = 0..heads-1.
        qkv = self.qkv_grouped(h).reshape(b, self.heads, 3, -1, length).transpose(3, 4)
        return qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]


def make_attention(kind: str, channels: int, num_head_channels: int, norm: Norm = group_norm) -> _Attention:
    if kind == "global":
        return GlobalAttention(channels, num_head_channels, norm)
    if kind == "local":
        return LocalAttention(channels, num_head_channels, norm)
    raise AugdiffError(f"attention={kind!r}: unknown attention kind; choose one of {', '.join(ATTENTION_KINDS)}")


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class _Level(nn.Module):
    """One U-Net stage: a residual block, optionally followed by attention (or a resampler on its own)."""

    def __init__(self, res: ResBlock | None, attn: _Attention | None = None, resample: nn.Module | None = None):
        super().__init__()
        self.res, self.attn, self.resample = res, attn, resample

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.res is not None:
            x = self.res(x, emb)
        if self.attn is not None:
            x = self.attn(x)
        if self.resample is not None:
            x = self.resample(x)
        return x


def attention_kind_of(state_dict: Mapping[str, Any]) -> str | None:
    """The attention kind a state dict was saved from (None when it has no attention layers)."""
    kinds = {kind for kind, marker in _KIND_MARKERS.items() for key in state_dict if key.endswith(marker)}
    if len(kinds) > 1:
        raise AugdiffError("state dict mixes global and local attention weights; it is not an ADMUNet checkpoint")
    return kinds.pop() if kinds else None


class ADMUNet(nn.Module):
    """ADM U-Net; ``model(x, t, y=None)`` returns ``out_channels`` maps (ε, or [ε | v] for learned variance)."""

    def __init__(
        self,
        image_size: int,
        in_channels: int = 3,
        out_channels: int = 3,
        base_channels: int = 64,
        channel_mult: Sequence[int] = (1, 2, 2),
        num_res_blocks: int = 2,
        attention_resolutions: Sequence[int] = (16,),
        num_head_channels: int = 32,
        attention: str = "global",
        dropout: float = 0.0,
        num_classes: int | None = None,
        norm_min_group_channels: int = 4,
    ) -> None:
        super().__init__()
        if attention not in ATTENTION_KINDS:
            raise AugdiffError(f"attention={attention!r}: choose one of {', '.join(ATTENTION_KINDS)}")
        if image_size % 2 ** (len(channel_mult) - 1):
            raise AugdiffError(
                f"image_size={image_size} is not divisible by 2^{len(channel_mult) - 1}: use fewer channel_mult "
                "levels or a larger image size"
            )
        self.image_size, self.in_channels, self.out_channels = image_size, in_channels, out_channels
        self.attention, self.num_classes = attention, num_classes
        self.base_channels = base_channels
        emb_ch = 4 * base_channels
        self.time_embed = nn.Sequential(
            nn.Linear(base_channels, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch)
        )
        self.label_embed = nn.Embedding(num_classes, emb_ch) if num_classes else None
        attn_at = set(attention_resolutions)
        norm = functools.partial(group_norm, min_channels_per_group=norm_min_group_channels)

        def attn(ch: int, res: int) -> _Attention | None:
            return make_attention(attention, ch, num_head_channels, norm) if res in attn_at else None

        self.input_conv = nn.Conv2d(in_channels, base_channels, 3, padding=1)
        self.down = nn.ModuleList()
        skips, ch, res = [base_channels], base_channels, image_size
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                out = base_channels * mult
                self.down.append(_Level(ResBlock(ch, emb_ch, out, dropout, norm), attn(out, res)))
                ch = out
                skips.append(ch)
            if level < len(channel_mult) - 1:
                self.down.append(_Level(None, resample=Downsample(ch)))
                skips.append(ch)
                res //= 2
        self.middle = nn.ModuleList([
            _Level(ResBlock(ch, emb_ch, ch, dropout, norm), make_attention(attention, ch, num_head_channels, norm)),
            _Level(ResBlock(ch, emb_ch, ch, dropout, norm)),
        ])
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            for i in range(num_res_blocks + 1):
                out = base_channels * mult
                upsample = Upsample(out) if level > 0 and i == num_res_blocks else None
                self.up.append(_Level(ResBlock(ch + skips.pop(), emb_ch, out, dropout, norm), attn(out, res), upsample))
                ch = out
            if level > 0:
                res *= 2
        self.out = nn.Sequential(norm(ch), nn.SiLU(), _zero(nn.Conv2d(ch, out_channels, 3, padding=1)))

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        emb = self.time_embed(timestep_embedding(t, self.base_channels).to(x.dtype))
        if self.label_embed is not None:
            if y is None:
                raise AugdiffError("this ADMUNet is class-conditional: pass the labels y")
            emb = emb + self.label_embed(y)
        h = self.input_conv(x)
        hs = [h]
        for block in self.down:
            h = block(h, emb)
            hs.append(h)
        for block in self.middle:
            h = block(h, emb)
        for block in self.up:
            h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """Strict load that refuses weights saved from the other attention kind with a clear error."""
        saved = attention_kind_of(state_dict)
        if saved is not None and saved != self.attention:
            raise AugdiffError(
                f"these weights are from a U-Net with {saved}-priority attention but the model has "
                f"{self.attention}-priority attention; build it with attention={saved!r}"
            )
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
