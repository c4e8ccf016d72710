"""Library functions behind ``augdiff data info`` and ``augdiff data preview``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from augdiff import atomic
from augdiff.data import load_dataset
from augdiff.data.spec import SPLITS, DataOptions, Dataset
from augdiff.errors import AugdiffError
from augdiff.pictures import png_bytes
from augdiff.seeding import numpy_rng


def describe(dataset: Dataset) -> dict[str, Any]:
    """Counts per split and class, image size, fingerprint, notes (and stage statistics where known)."""
    out: dict[str, Any] = {
        "name": dataset.name,
        "classes": dataset.classes,
        "image_size": dataset.image_size,
        "splits": {s: dataset.splits[s].counts() for s in SPLITS},
        "fingerprint": dataset.fingerprint(),
        "notes": list(dataset.notes),
    }
    train = dataset.train
    if train.stages is not None:
        out["stage_mean"] = {
            c: round(float(train.stages[train.labels == i].mean()), 3) for i, c in enumerate(dataset.classes)
        }
    return out


def dataset_info(name: str, options: DataOptions) -> dict[str, Any]:
    return describe(load_dataset(name, options))


def preview_grid(dataset: Dataset, per_class: int = 8, seed: int = 0, cell: int = 96) -> np.ndarray:
    """uint8 RGB grid: one row per class of training images (a seeded sample), a class label on the left.

    Images with a known stage are ordered by it, so a row shows the progression within the class.
    """
    if per_class < 1:
        raise AugdiffError(f"--per-class {per_class}: must be at least 1")
    train = dataset.train
    scale = max(1, round(cell / train.image_size))
    side = train.image_size * scale
    label_w, gap = 72, 2
    rows = len(dataset.classes)
    height = rows * side + (rows + 1) * gap
    width = label_w + per_class * (side + gap) + gap
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for r, cls in enumerate(dataset.classes):
        pool = np.flatnonzero(train.labels == r)
        pick = numpy_rng(seed, "preview", cls).choice(pool, min(per_class, len(pool)), replace=False)
        if train.stages is not None:
            pick = pick[np.argsort(train.stages[pick])]
        top = gap + r * (side + gap)
        draw.text((4, top + side // 2 - 6), cls, fill=(0, 0, 0), font=font)
        for c, i in enumerate(pick):
            tile = Image.fromarray(train.images[i]).resize((side, side), Image.Resampling.NEAREST)
            canvas.paste(tile, (label_w + gap + c * (side + gap), top))
    return np.asarray(canvas)


def write_preview(name: str, options: DataOptions, out: Path, per_class: int = 8) -> dict[str, Any]:
    """Load the dataset, draw the grid and write it as PNG atomically (nothing is written on any error)."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise AugdiffError(f"--out {out}: the preview is a PNG; give a name ending in .png")
    dataset = load_dataset(name, options)
    atomic.write_bytes(out, png_bytes(preview_grid(dataset, per_class, options.seed)))
    return {
        "out": str(out),
        "rows": dataset.classes,
        "per_class": per_class,
        "fingerprint": dataset.fingerprint(),
        "notes": list(dataset.notes),
    }
