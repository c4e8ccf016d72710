"""Memorisation: how close each generated image comes to its nearest training image.

For every generated image we find the two nearest training images, in pixel space (RMS distance between images
box-downscaled to at most 32 px, values in [0, 1]) and in a feature space. A generated image counts as a near-copy
when its nearest training image is much closer than the second nearest: ``d1 < ratio * d2`` with ratio = 1/3, the
relative criterion of Yoon et al. 2023 ("Diffusion probabilistic models generalize when they fail to memorize")
and Gu et al. 2023 ("On memorization in diffusion models"). Being relative, it does not need a scale per dataset;
an exact duplicate (``d1 == 0``) always counts, even when the training set itself holds duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from augdiff import atomic
from augdiff.pictures import png_bytes

DEFAULT_RATIO = 1.0 / 3.0
PIXEL_SIDE = 32
EXACT_TOL = 1e-9


def downscale(images: np.ndarray, side: int) -> np.ndarray:
    """Box-filter (area average) to ``side`` px; float64 in [0, 1], one flattened row per image."""
    out = np.empty((len(images), side * side * 3), dtype=np.float64)
    for i, img in enumerate(images):
        if img.shape[0] != side or img.shape[1] != side:
            img = np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize((side, side), Image.Resampling.BOX))
        out[i] = img.reshape(-1) / 255.0
    return out


@dataclass
class Neighbours:
    index: np.ndarray  # (N,) nearest training image per generated image
    d1: np.ndarray  # (N,) RMS distance to the nearest
    d2: np.ndarray  # (N,) RMS distance to the second nearest

    @property
    def ratio(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.d1 <= EXACT_TOL, 0.0, self.d1 / np.where(self.d2 > 0, self.d2, np.inf))

    def near_copies(self, ratio: float) -> np.ndarray:
        return (self.d1 <= EXACT_TOL) | (self.d1 < ratio * self.d2)


def two_nearest(fake: np.ndarray, real: np.ndarray, chunk: int = 512) -> Neighbours:
    """Nearest and second-nearest rows of ``real`` for each row of ``fake`` (RMS over the feature dimension)."""
    if len(real) < 2:
        raise ValueError("the nearest-neighbour ratio test needs at least 2 training images")
    real_sq = (real**2).sum(1)
    idx = np.empty((len(fake), 2), dtype=np.int64)
    for s in range(0, len(fake), chunk):
        f = fake[s : s + chunk]
        d2 = (f**2).sum(1)[:, None] + real_sq[None, :] - 2.0 * f @ real.T
        top = np.argpartition(d2, 1, axis=1)[:, :2]
        order = np.take_along_axis(d2, top, 1).argsort(1)
        idx[s : s + chunk] = np.take_along_axis(top, order, 1)
    # The expansion above loses precision for near-identical rows: recompute the two distances directly.
    dim = fake.shape[1]
    exact = np.sqrt(((fake[:, None, :] - real[idx]) ** 2).sum(-1) / dim)
    swap = exact[:, 1] < exact[:, 0]
    idx[swap] = idx[swap][:, ::-1]
    exact[swap] = exact[swap][:, ::-1]
    return Neighbours(idx[:, 0], exact[:, 0], exact[:, 1])


def summarise(nb: Neighbours, ratio: float) -> dict[str, Any]:
    flags = nb.near_copies(ratio)
    return {
        "near_copy_share": float(flags.mean()),
        "near_copies": int(flags.sum()),
        "nearest_distance_median": float(np.median(nb.d1)),
        "nearest_distance_min": float(nb.d1.min()),
        "ratio_median": float(np.median(nb.ratio)),
    }


def closest_pairs(nb: Neighbours, k: int) -> list[dict[str, Any]]:
    """The ``k`` most copy-like generated images (smallest d1/d2, then smallest d1) and their training neighbours."""
    order = np.lexsort((nb.d1, nb.ratio))[:k]
    return [{"fake": int(i), "real": int(nb.index[i]), "distance": float(nb.d1[i]), "ratio": float(nb.ratio[i])}
            for i in order]


def pairs_png(fake: np.ndarray, real: np.ndarray, pairs: list[dict[str, Any]], path: Path, min_side: int = 64) -> Path:
    """One row per pair, generated image left and its nearest training image right; written atomically."""
    h, w = fake.shape[1:3]
    scale = max(1, -(-min_side // min(h, w)))
    gap = 4
    cell_h, cell_w = h * scale, w * scale
    canvas = np.full((len(pairs) * (cell_h + gap) + gap, 2 * cell_w + 3 * gap, 3), 255, dtype=np.uint8)

    def cell(img: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize((cell_w, cell_h), Image.Resampling.NEAREST))

    for row, pair in enumerate(pairs):
        y = gap + row * (cell_h + gap)
        canvas[y : y + cell_h, gap : gap + cell_w] = cell(fake[pair["fake"]])
        canvas[y : y + cell_h, 2 * gap + cell_w : 2 * gap + 2 * cell_w] = cell(real[pair["real"]])
    atomic.write_bytes(path, png_bytes(canvas))
    return Path(path)
