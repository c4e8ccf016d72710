"""PNG strips of progressive samples: one row per source (source | levels … | final translation)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from augdiff import pictures

MIN_TILE = 64  # small training resolutions (16–32 px) are upscaled so a strip is readable


def strip(images: Sequence[np.ndarray]) -> np.ndarray:
    """Tiles (uint8 HWC, same size) side by side with white gaps, upscaled to at least ``MIN_TILE`` px."""
    return pictures.grid(images, tile=max(MIN_TILE, images[0].shape[0]))
