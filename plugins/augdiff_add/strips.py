"""PNG strips of progressive samples: one row per source (source | levels … | final translation)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

MIN_TILE = 64  # small training resolutions (16–32 px) are upscaled so a strip is readable
GAP = 2


def _tile(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[0] == size:
        return img
    return np.asarray(Image.fromarray(img).resize((size, size), Image.NEAREST))


def strip(images: Sequence[np.ndarray]) -> np.ndarray:
    """Tiles (uint8 HWC, same size) side by side with white gaps, upscaled to at least ``MIN_TILE`` px."""
    size = max(MIN_TILE, images[0].shape[0])
    gap = np.full((size, GAP, 3), 255, dtype=np.uint8)
    parts: list[np.ndarray] = []
    for img in images:
        parts += [_tile(img, size), gap]
    return np.concatenate(parts[:-1], axis=1)


def stack(rows: Sequence[np.ndarray]) -> np.ndarray:
    """Strips of possibly different lengths stacked vertically, padded with white on the right."""
    width = max(r.shape[1] for r in rows)
    padded = []
    for r in rows:
        pad = np.full((r.shape[0], width - r.shape[1], 3), 255, dtype=np.uint8)
        padded += [np.concatenate([r, pad], axis=1), np.full((GAP, width, 3), 255, dtype=np.uint8)]
    return np.concatenate(padded[:-1], axis=0)


def png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG")
    return buf.getvalue()
