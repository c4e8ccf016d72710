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


def read_state_dict(path: Path, option: str = "--pretrained") -> dict[str, torch.Tensor]:
    """The tensors of a local checkpoint: a ``.safetensors`` file or a PyTorch state dict (``.pt``/``.pth``/``.bin``,
    also wrapped as ``{"state_dict": …}``, ``{"model": …}`` or with DDP's ``module.`` prefix). Never runs pickled
    code (``weights_only``); ``option`` names the option in the one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise AugdiffError(f"{option} {path}: no such file; give a local checkpoint (.safetensors, .pt/.pth/.bin)")
    obj: Any = None
    errors = []
    # By suffix first; a file whose suffix lies is tried the other way before giving up.
    readers = [_load_safetensors, _load_torch]
    for reader in readers if path.suffix == ".safetensors" else readers[::-1]:
        try:
            obj = reader(path)
            break
        except Exception as exc:  # pickle, zip, header or weights_only refusals: the file is not that format
            errors.append(type(exc).__name__)
    else:
        raise AugdiffError(
            f"{option} {path}: cannot be read as a PyTorch state dict or a safetensors file ({', '.join(errors)}); "
            "save one with torch.save(model.state_dict(), FILE) or safetensors.torch.save_file"
        )
    for key in ("state_dict", "model", "module"):  # common checkpoint wrappers
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise AugdiffError(f"{option} {path}: not a state dict (a mapping of parameter names to tensors)")
    state = {str(k): v for k, v in obj.items()}
    if all(k.startswith("module.") for k in state):  # saved from a DistributedDataParallel wrapper
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file  # installed with timm

    return load_file(str(path), device="cpu")


def _load_torch(path: Path) -> Any:
    return torch.load(path, map_location="cpu", weights_only=True)


# What a tensor that could not be loaded is for, so a warning says what the model lost.
_ROLES = (("pos_embed", "position embedding"), ("patch_embed.", "patch projection"), ("head.", "classifier head"))


def describe_tensor(name: str) -> str:
    role = next((text for prefix, text in _ROLES if name.startswith(prefix)), None)
    return name if role is None else f"{name} ({role})"


def load_pretrained(model: nn.Module, path: Path) -> list[str]:
    """Copy every tensor of ``path`` whose name and shape match; warn about the rest, fail if nothing fits.

    A different class count (the head) or input size (the position embedding, the patch projection) changes
    shapes; those tensors keep their fresh initialisation, which is what fine-tuning from ImageNet weights does.
    ``augdiff classifier export-weights`` resizes the position embedding and patch projection beforehand.
    """
    source = read_state_dict(path)
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
        lost = "; ".join(f"{describe_tensor(k)} {shape_text(source[k])} in the file, "
                         f"{shape_text(target[k])} in the model" for k in mismatched)
        hint = (" (`augdiff classifier export-weights` resizes position embeddings and patch projections)"
                if any(k.startswith(("pos_embed", "patch_embed.")) for k in mismatched) else "")
        notes.append(f"kept fresh (shape differs): {lost}{hint}")
    unexpected = sorted(k for k in source if k not in target)
    if unexpected:
        notes.append(f"ignored (not in model): {len(unexpected)} tensors, e.g. {unexpected[0]}")
    missing = sorted(k for k in target if k not in source)
    if missing:
        shown = ", ".join(describe_tensor(k) for k in missing[:4]) + (" …" if len(missing) > 4 else "")
        notes.append(f"not in file, kept fresh: {len(missing)} tensors: {shown}")
    model.load_state_dict(usable, strict=False)
    for note in notes:
        warnings.warn(f"--pretrained {Path(path).name}: {note}", PretrainedMismatchWarning, stacklevel=2)
    return notes


def shape_text(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape)) or "scalar"


def build_classifier(name: str, num_classes: int, image_size: int, pretrained: Path | None = None) -> nn.Module:
    """A registered classifier by name, else any timm architecture name."""
    from augdiff import plugins

    registered = plugins.classifiers()
    if name in registered:
        return registered[name].obj.build(num_classes, image_size, pretrained)
    return build_timm(name, num_classes, image_size, pretrained)
