"""The built-in classifiers by name. Kept free of torch/timm imports: the CLI loads it at start-up.

The ADD paper's downstream model is a ViT (Table 2). At 224 px a ViT-B/16 sees a 14x14 token grid; on 32 px
PCam crops a 16 px patch would leave 2x2 tokens, so the named ViTs keep their widths and depths but choose the
patch size as ``image_size // 8``: a 32 px input gives an 8x8 grid (patch 4), 96 px gives patch 12.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from augdiff.classify.spec import ClassifierSpec

if TYPE_CHECKING:
    from torch import nn

TOKEN_GRID = 8  # tokens per side for the named ViTs

# Our short names → the timm architecture whose width/depth/heads they keep.
VIT_ARCHITECTURES = {
    "vit_base": "vit_base_patch16_224",
    "vit_small": "vit_small_patch16_224",
    "vit_tiny": "vit_tiny_patch16_224",
}
# Smaller ViTs built from the same timm class: vit_mini (~0.46 M parameters: half ViT-Ti's width, a third of its
# depth) makes the cpu benchmark affordable on 2 cores; vit_micro (~20 k) is for tests.
SMALL_VITS = {
    "vit_mini": {"embed_dim": 96, "depth": 4, "num_heads": 3, "mlp_ratio": 4.0},
    "vit_micro": {"embed_dim": 32, "depth": 2, "num_heads": 2, "mlp_ratio": 2.0},
}
_SMALL_DESCRIPTIONS = {
    "vit_mini": "CPU-scale ViT (width 96, depth 4, 3 heads), 8x8 tokens: the cpu benchmark profile",
    "vit_micro": "test-scale ViT (width 32, depth 2) for smoke runs",
}


def _lazy_vit(name: str) -> Callable[[int, int, Path | None], nn.Module]:
    def build(num_classes: int, image_size: int, pretrained: Path | None) -> nn.Module:
        from augdiff.classify.models import build_vit

        return build_vit(name, num_classes, image_size, pretrained)

    return build


def builtin_specs() -> list[ClassifierSpec]:
    specs = [
        ClassifierSpec(short, _lazy_vit(short),
                       f"{arch} widths, patch = size // {TOKEN_GRID} (8x8 tokens), no weights unless --pretrained")
        for short, arch in VIT_ARCHITECTURES.items()
    ]
    specs += [ClassifierSpec(name, _lazy_vit(name), _SMALL_DESCRIPTIONS[name]) for name in SMALL_VITS]
    return specs
