"""An H&E-like test patch shared by the augmentation tests."""

from __future__ import annotations

import numpy as np


def he_like(size: int = 32, seed: int = 0) -> np.ndarray:
    """Pink stroma, purple nuclei, a little white background, with noise: an H&E-like patch."""
    rng = np.random.default_rng(seed)
    img = np.empty((size, size, 3), np.float64)
    img[:] = (200, 120, 170)
    img[rng.random((size, size)) < 0.2] = (100, 60, 140)
    img[rng.random((size, size)) < 0.1] = (240, 235, 240)
    return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
