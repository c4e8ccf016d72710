"""timm classifiers adapted to small histopathology patches, built without downloading anything.

The named ViTs (see :mod:`augdiff.classify.catalog`) keep timm's widths and depths and use a patch of
``image_size // 8``, so any input size gives an 8x8 token grid.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from augdiff.classify.catalog import SMALL_VITS, TOKEN_GRID, VIT_ARCHITECTURES
from augdiff.errors import AugdiffError


class PretrainedMismatchWarning(UserWarning):
    """Some tensors of a ``--pretrained`` file did not fit the model and were left at their initialisation."""


def vit_patch_size(image_size: int) -> int:
    if image_size < TOKEN_GRID or image_size % TOKEN_GRID:
        raise AugdiffError(
            f"--size {image_size}: the ViT classifiers need an image size divisible by {TOKEN_GRID} "
            f"(patch = size // {TOKEN_GRID} gives an {TOKEN_GRID}x{TOKEN_GRID} token grid); use e.g. 16, 32 or 96"
        )
    return image_size // TOKEN_GRID


def build_vit(name: str, num_classes: int, image_size: int, pretrained: Path | None = None) -> nn.Module:
    """One of ``VIT_ARCHITECTURES`` or ``SMALL_VITS`` with an 8x8 token grid at ``image_size``."""
    patch = vit_patch_size(image_size)
    if name in SMALL_VITS:
        from timm.models.vision_transformer import VisionTransformer

        model: nn.Module = VisionTransformer(img_size=image_size, patch_size=patch, num_classes=num_classes,
                                             **SMALL_VITS[name])
    else:
        model = timm.create_model(VIT_ARCHITECTURES[name], pretrained=False, num_classes=num_classes,
                                  img_size=image_size, patch_size=patch)
    if pretrained is not None:
        load_pretrained(model, pretrained)
    return model


def build_timm(name: str, num_classes: int, image_size: int, pretrained: Path | None = None) -> nn.Module:
    """Any timm architecture by name, never with hub weights; ``img_size`` is passed where the model takes it."""
    if not timm.is_model(name):
        raise AugdiffError(
            f"--classifier {name}: neither a registered classifier nor a timm model name; see `augdiff list` "
            "or timm.list_models()"
        )
    try:
        model = timm.create_model(name, pretrained=False, num_classes=num_classes, img_size=image_size)
    except TypeError:  # convolutional nets have no img_size argument: they adapt to any input size
        model = timm.create_model(name, pretrained=False, num_classes=num_classes)
    if pretrained is not None:
        load_pretrained(model, pretrained)
    return model


def _read_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise AugdiffError(f"--pretrained {path}: no such file; give a local state-dict file (.pt/.pth)")
    try:
        obj: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, zip errors, non-tensor objects refused by weights_only
        raise AugdiffError(
            f"--pretrained {path}: cannot be read as a PyTorch state dict ({type(exc).__name__}); save one with "
            "torch.save(model.state_dict(), FILE)"
        ) from exc
    for key in ("state_dict", "model", "module"):  # common checkpoint wrappers
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise AugdiffError(f"--pretrained {path}: not a state dict (a mapping of parameter names to tensors)")
    return obj


def load_pretrained(model: nn.Module, path: Path) -> list[str]:
    """Copy every tensor of ``path`` whose name and shape match; warn about the rest, fail if nothing fits.

    A different class count (the head) or input size (the position embedding, the patch projection) changes
    shapes; those tensors keep their fresh initialisation, which is what fine-tuning from ImageNet weights does.
    """
    source = _read_state_dict(path)
    target = model.state_dict()
    usable = {k: v for k, v in source.items() if k in target and target[k].shape == v.shape}
    if not usable:
        raise AugdiffError(
            f"--pretrained {path}: none of its {len(source)} tensors matches the model's names and shapes; "
            "is it a checkpoint of this architecture?"
        )
    notes = []
    mismatched = sorted(k for k in source if k in target and k not in usable)
    if mismatched:
        notes.append(f"kept fresh (shape differs): {', '.join(mismatched)}")
    unexpected = sorted(k for k in source if k not in target)
    if unexpected:
        notes.append(f"ignored (not in model): {len(unexpected)} tensors, e.g. {unexpected[0]}")
    missing = sorted(k for k in target if k not in source)
    if missing:
        notes.append(f"not in file: {len(missing)} tensors, e.g. {missing[0]}")
    model.load_state_dict(usable, strict=False)
    for note in notes:
        warnings.warn(f"--pretrained {Path(path).name}: {note}", PretrainedMismatchWarning, stacklevel=2)
    return notes


def build_classifier(name: str, num_classes: int, image_size: int, pretrained: Path | None = None) -> nn.Module:
    """A registered classifier by name, else any timm architecture name."""
    from augdiff import plugins

    registered = plugins.classifiers()
    if name in registered:
        return registered[name].obj.build(num_classes, image_size, pretrained)
    return build_timm(name, num_classes, image_size, pretrained)
