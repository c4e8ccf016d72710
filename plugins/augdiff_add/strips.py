"""PNG strips of progressive samples: one row per source (source | levels … | final translation)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from augdiff import pictures

MIN_TILE = 64  # small training resolutions (16–32 px) are upscaled so a strip is readable


def strip(images: Sequence[np.ndarray]) -> np.ndarray:
    """Tiles (uint8 HWC, same size) side by side with white gaps, upscaled to at least ``MIN_TILE`` px."""
    return pictures.grid(images, tile=max(MIN_TILE, images[0].shape[0]))


def level_label(level: float) -> str:
    """A level column's label: L=0.1 … L=1.0 (one decimal unless the level needs more)."""
    return f"L={level:.1f}" if round(level, 1) == level else f"L={level:g}"


def sheet(rows: Sequence[tuple[np.ndarray, Sequence[float]]]) -> np.ndarray:
    """Strips stacked into one labelled table: ``rows`` holds each strip (as :func:`strip` drew it) with the
    requested levels of its level tiles, in order.

    A strip is ``source | levels … | final``, the source and the final translation optional (the final only
    after the source), so the tiles beyond the levels tell which it has. Each tile goes under its column,
    ``source | L=… | final``; a strip without a column (a last source that gave only its first levels, a
    source whose deepest level already was the final translation) leaves that cell white.
    """
    tile = int(rows[0][0].shape[0])
    parsed = []
    for image, levels in rows:
        count = (image.shape[1] + pictures.GAP) // (tile + pictures.GAP)
        tiles = [image[:, i * (tile + pictures.GAP) : i * (tile + pictures.GAP) + tile] for i in range(count)]
        levels = list(levels)[:count]
        extra = count - len(levels)  # 0: levels only; 1: source first; 2: source first, final last
        cells = dict(zip([level_label(v) for v in levels], tiles[min(extra, 1) : min(extra, 1) + len(levels)],
                         strict=True))
        if extra >= 1:
            cells["source"] = tiles[0]
        if extra >= 2:
            cells["final"] = tiles[-1]
        parsed.append(cells)
    level_set = sorted({float(v) for _, levels in rows for v in levels})
    columns = [*(["source"] if any("source" in c for c in parsed) else []), *(level_label(v) for v in level_set),
               *(["final"] if any("final" in c for c in parsed) else [])]
    blank = np.full((tile, tile, 3), pictures.WHITE, np.uint8)
    body = pictures.grid([c.get(name, blank) for c in parsed for name in columns], columns=len(columns))
    return pictures.with_column_labels(body, columns, tile)
