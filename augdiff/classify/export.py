"""``augdiff classifier export-weights``: a timm checkpoint on disk → the state-dict file ``--pretrained`` takes.

augdiff never downloads weights. A user fetches a timm checkpoint elsewhere (``model.safetensors`` of a timm model
on the Hugging Face hub, a ``.pth``/``.bin`` file) and exports it for the classifier the benchmark will build: the
same name (``--classifier``) at the same input size (``--size``). The named ViTs use a patch of ``size // 8`` and
an 8x8 token grid, so a ViT-B/16 checkpoint does not fit them as it is: its 14x14 position embedding is
interpolated to the model's grid (timm's ``resample_abs_pos_embed``) and its 16x16 patch projection resized to the
model's patch (timm's ``resample_patch_embed``, FlexiViT's pseudo-inverse resize). Tensors with any other shape
difference, chiefly the classifier head (1000 ImageNet classes), are dropped: the benchmark builds its own head for
the dataset's classes. The file written holds only tensors that came from the checkpoint, so nothing freshly
initialised here can pass for pretrained later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from augdiff import atomic
from augdiff.classify.models import build_classifier, describe_tensor, read_state_dict, shape_text
from augdiff.errors import AugdiffError

MIN_SHARE = 0.5  # fewer of the model's tensors found in the checkpoint than this: another architecture
PROBE_CLASSES = 2  # the head is dropped anyway; any class count builds the same body


@dataclass
class Export:
    """What an export kept, resized and dropped (tensor names; shapes as text)."""

    model: str
    size: int
    source: Path
    out: Path
    matched: list[str] = field(default_factory=list)
    resized: dict[str, str] = field(default_factory=dict)  # name -> "file shape -> model shape (how)"
    dropped: dict[str, str] = field(default_factory=dict)  # name -> why
    unused: list[str] = field(default_factory=list)  # checkpoint tensors the model has no place for
    fresh: list[str] = field(default_factory=list)  # model tensors the file will not hold

    @property
    def written(self) -> int:
        return len(self.matched) + len(self.resized)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "size": self.size, "from": str(self.source), "out": str(self.out),
                "written": self.written, "matched": len(self.matched), "resized": self.resized,
                "dropped": self.dropped, "unused": self.unused, "fresh": self.fresh}


def _resample(name: str, value: torch.Tensor, target: torch.Tensor, model: nn.Module) -> tuple[torch.Tensor, str] | None:
    """``value`` resized to ``target``'s shape where timm knows how (position embedding, patch projection)."""
    try:
        from timm.layers import resample_abs_pos_embed, resample_patch_embed
    except ImportError:  # an older timm: such tensors are dropped instead
        return None
    if name == "pos_embed" and value.ndim == target.ndim == 3 and value.shape[-1] == target.shape[-1]:
        grid = getattr(getattr(model, "patch_embed", None), "grid_size", None)
        prefix = 0 if getattr(model, "no_embed_class", False) else int(getattr(model, "num_prefix_tokens", 1))
        old_tokens = value.shape[1] - prefix
        side = math.isqrt(old_tokens)
        if grid is None or side * side != old_tokens or target.shape[1] != prefix + grid[0] * grid[1]:
            return None
        out = resample_abs_pos_embed(value, new_size=list(grid), old_size=[side, side], num_prefix_tokens=prefix)
        return out, f"interpolated from a {side}x{side} to a {grid[0]}x{grid[1]} token grid"
    if name.endswith("patch_embed.proj.weight") and value.ndim == target.ndim == 4 \
            and value.shape[:2] == target.shape[:2]:
        out = resample_patch_embed(value, new_size=list(target.shape[-2:]))
        return out, (f"patch {value.shape[-2]}x{value.shape[-1]} resized to {target.shape[-2]}x{target.shape[-1]} "
                     "(pseudo-inverse)")
    return None


def export_weights(model_name: str, source: Path, out: Path, size: int) -> Export:
    """Fit ``source``'s tensors to ``model_name`` at ``size`` px and write them to ``out`` atomically."""
    source, out = Path(source), Path(out)
    if out.resolve() == source.resolve():
        raise AugdiffError(f"--out {out}: is the --from file; write the export to another file")
    if out.is_dir():
        raise AugdiffError(f"--out {out}: is a folder; give a file name (.pt, or .safetensors)")
    checkpoint = read_state_dict(source, "--from")
    model = build_classifier(model_name, PROBE_CLASSES, size)
    target = model.state_dict()
    report = Export(model_name, size, source, out)
    kept: dict[str, torch.Tensor] = {}
    for name, value in checkpoint.items():
        if name not in target:
            report.unused.append(name)
            continue
        want = target[name]
        if value.shape == want.shape:
            kept[name] = value
            report.matched.append(name)
            continue
        resampled = _resample(name, value.float(), want, model)
        if resampled is not None:
            kept[name] = resampled[0]
            report.resized[name] = f"{shape_text(value)} -> {shape_text(want)}, {resampled[1]}"
        else:
            report.dropped[name] = f"{shape_text(value)} in the file, {shape_text(want)} in the model"
    report.fresh = sorted(describe_tensor(k) for k in target if k not in kept)
    if report.written < MIN_SHARE * len(target):
        example = next(iter({**report.dropped, **dict.fromkeys(report.unused, "not in the model")}.items()))
        raise AugdiffError(
            f"--from {source}: only {report.written} of the {len(target)} tensors of {model_name} at {size} px fit "
            f"(e.g. {example[0]}: {example[1]}); is it a checkpoint of {model_name}'s architecture?"
        )
    tensors = {k: v.detach().to(target[k].dtype).contiguous().clone() for k, v in kept.items()}
    _write(out, tensors, {"augdiff_export": "1", "model": model_name, "size": str(size), "from": source.name})
    return report


def _write(out: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    with atomic.atomic_path(out) as tmp:
        if out.suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file(tensors, str(tmp), metadata=metadata)
        else:
            torch.save(tensors, tmp)
