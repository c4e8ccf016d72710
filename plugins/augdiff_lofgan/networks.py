"""LoFGAN's networks (Gu et al., ICCV 2021): encoder → local fusion module (LFM) → decoder, and a D with an
adversarial and a class head.

The generator receives k reference images of one class. It encodes all of them to an h×w feature grid, keeps the
first as the *base*, and the LFM then (1) **selects** ``rate·h·w`` random base positions, (2) **matches** each of
them to its most cosine-similar position in every other reference, and (3) **replaces** the selected base
features by ``a_0·base + Σ_j a_j·ref_j`` with random coefficients ``a`` on the simplex; the decoder turns the
fused grid back into an image. The LFM has no weights of its own: what is learned is the encoder and decoder,
trained through it (the authors' ``LocalFusionModule`` declares a 1×1 conv ``W`` that its forward never uses).

Everything random in a forward pass (coefficients, positions) is an explicit argument, drawn by ``draw_fusion``
from a seeded generator, so the fusion is testable and training is reproducible.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def _kaiming(module: nn.Conv2d | nn.Linear) -> nn.Conv2d | nn.Linear:
    # The authors' `init: kaiming`: N(0, 2/fan_in) weights, zero biases.
    nn.init.kaiming_normal_(module.weight, a=0, mode="fan_in")
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


class ConvBlock(nn.Sequential):
    """Reflection pad → conv → (BatchNorm) → activation: the authors' ``Conv2dBlock`` for G."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, *, norm: bool = True,
                 act: str = "lrelu") -> None:
        layers: list[nn.Module] = [nn.ReflectionPad2d(kernel // 2), _kaiming(nn.Conv2d(cin, cout, kernel, stride))]
        if norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.LeakyReLU(0.2) if act == "lrelu" else nn.Tanh())
        super().__init__(*layers)


class Encoder(nn.Module):
    """5×5 conv to ``widths[0]``, then one stride-2 3×3 conv per further width (128 px → 8×8 with 5 widths)."""

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        blocks = [ConvBlock(3, widths[0], 5)]
        blocks += [ConvBlock(a, b, 3, 2) for a, b in itertools.pairwise(widths)]
        self.net = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    """The encoder mirrored: nearest ×2 upsampling + 3×3 conv per width, then a 5×5 conv and tanh."""

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        rev = widths[::-1]
        blocks: list[nn.Module] = []
        for a, b in itertools.pairwise(rev):
            blocks += [nn.Upsample(scale_factor=2, mode="nearest"), ConvBlock(a, b, 3)]
        blocks.append(ConvBlock(widths[0], 3, 5, norm=False, act="tanh"))
        self.net = nn.Sequential(*blocks)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


# -- the local fusion module ----------------------------------------------------------------------------------
def draw_fusion(
    batch: int, k: int, positions: int, rate: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random fusion coefficients (B, k) on the simplex and ``rate·positions`` distinct base positions (B, M).

    Coefficients are uniform draws divided by their sum, as in the authors' code (not a Dirichlet).
    """
    raw = torch.rand(batch, k, generator=generator)
    coeffs = raw / raw.sum(dim=1, keepdim=True)
    num = max(1, int(rate * positions))
    chosen = torch.rand(batch, positions, generator=generator).argsort(dim=1)[:, :num]
    return coeffs, chosen


def _take(flat: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``flat`` (..., C, P) at positions ``index`` (..., M) → (..., C, M)."""
    return flat.gather(-1, index.unsqueeze(-2).expand(*index.shape[:-1], flat.shape[-2], index.shape[-1]))


@torch.no_grad()
def match_positions(base: torch.Tensor, refs: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Local matching: for each selected base position, the most cosine-similar position in each reference.

    base (B, C, h, w), refs (B, n, C, h, w), positions (B, M) → (B, n, M) indices into h·w.
    """
    query = F.normalize(_take(base.flatten(2), positions), dim=1)  # (B, C, M)
    keys = F.normalize(refs.flatten(3), dim=2)  # (B, n, C, P)
    similarity = torch.einsum("bcm,bncp->bnmp", query, keys)
    return similarity.argmax(dim=-1)


def fuse_at(
    base: torch.Tensor, refs: torch.Tensor, coeffs: torch.Tensor, positions: torch.Tensor,
    ref_positions: torch.Tensor,
) -> torch.Tensor:
    """Local replacement: base positions ← a_0·base[p] + Σ_j a_j·ref_j[match_j(p)]; other positions unchanged.

    Works on any (B, C, h, w) grids: the generator applies it to features, the LRL to downsampled images.
    coeffs (B, 1 + n): the base's coefficient first.
    """
    b, c, h, w = base.shape
    flat = base.flatten(2)
    fused = coeffs[:, 0, None, None] * _take(flat, positions)
    if refs.shape[1]:
        picked = _take(refs.flatten(3), ref_positions)  # (B, n, C, M)
        fused = fused + (coeffs[:, 1:, None, None] * picked).sum(dim=1)
    index = positions.unsqueeze(1).expand(b, c, positions.shape[1])
    return flat.scatter(2, index, fused).view(b, c, h, w)


class LocalFusionModule(nn.Module):
    """Selection (given), matching and replacement over encoded references (B, k, C, h, w); index 0 is the base."""

    def forward(
        self, feats: torch.Tensor, coeffs: torch.Tensor, positions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        base, refs = feats[:, 0], feats[:, 1:]
        ref_positions = match_positions(base, refs, positions)
        return fuse_at(base, refs, coeffs, positions, ref_positions), ref_positions


class LoFGenerator(nn.Module):
    """k references (B, k, 3, H, W) in [-1, 1] → one fused image (B, 3, H, W), plus the matched positions."""

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        self.downsampling = 2 ** (len(widths) - 1)
        self.encoder, self.fusion, self.decoder = Encoder(widths), LocalFusionModule(), Decoder(widths)

    def feature_size(self, image_size: int) -> int:
        return image_size // self.downsampling

    def forward(
        self, refs: torch.Tensor, coeffs: torch.Tensor, positions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, k = refs.shape[:2]
        feats = self.encoder(refs.flatten(0, 1))
        feats = feats.view(b, k, *feats.shape[1:])
        fused, ref_positions = self.fusion(feats, coeffs, positions)
        return self.decoder(fused), ref_positions


# -- discriminator --------------------------------------------------------------------------------------------
def _sn_conv(cin: int, cout: int, kernel: int) -> nn.Module:
    return spectral_norm(_kaiming(nn.Conv2d(cin, cout, kernel)))


class ActFirstResBlock(nn.Module):
    """(lrelu → pad → SN conv 3×3) × 2 plus a learned 1×1 shortcut when the width changes (FUNIT's D block)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        hidden = max(cin, cout)
        self.body = nn.Sequential(
            nn.LeakyReLU(0.2), nn.ReflectionPad2d(1), _sn_conv(cin, hidden, 3),
            nn.LeakyReLU(0.2), nn.ReflectionPad2d(1), _sn_conv(hidden, cout, 3),
        )
        self.shortcut = _kaiming(nn.Conv2d(cin, cout, 1, bias=False)) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.body(x)


class LoFDiscriminator(nn.Module):
    """SN 5×5 stem, one res block + 3×3/2 average pool per further width, a last res block, and two heads on the
    spatially pooled features: a real/fake score and ``num_classes`` class logits."""

    def __init__(self, widths: list[int], num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(2), _sn_conv(3, widths[0], 5)]
        for a, b in itertools.pairwise(widths):
            layers += [ActFirstResBlock(a, b), nn.ReflectionPad2d(1), nn.AvgPool2d(3, stride=2)]
        layers.append(ActFirstResBlock(widths[-1], widths[-1]))
        self.features = nn.Sequential(*layers)
        # The authors' heads are 1×1 convs after global average pooling, with no activation in between.
        self.adv = _kaiming(nn.Linear(widths[-1], 1))
        self.cls = _kaiming(nn.Linear(widths[-1], num_classes))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.features(x).mean(dim=(2, 3))
        return self.adv(pooled).squeeze(1), self.cls(pooled)
