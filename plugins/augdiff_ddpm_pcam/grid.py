"""Contact sheets: a PNG grid of samples (written next to every generated set, and used for the docs)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

GAP = 2  # white pixels between tiles


def grid(images: np.ndarray, columns: int = 8, scale: int = 1) -> Image.Image:
    """uint8 NHWC images tiled row-major into one RGB image, ``scale``x nearest-neighbour enlarged."""
    if len(images) == 0:
        raise ValueError("no images to tile")
    n, h, w, _ = images.shape
    columns = min(columns, n)
    rows = -(-n // columns)
    sheet = np.full((rows * (h + GAP) - GAP, columns * (w + GAP) - GAP, 3), 255, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        sheet[r * (h + GAP) : r * (h + GAP) + h, c * (w + GAP) : c * (w + GAP) + w] = img[..., :3]
    out = Image.fromarray(sheet)
    return out.resize((out.width * scale, out.height * scale), Image.NEAREST) if scale > 1 else out


def side_by_side(left: Image.Image, right: Image.Image, gap: int = 8) -> Image.Image:
    """Two sheets next to each other (e.g. generated | real) on a white background."""
    out = Image.new("RGB", (left.width + gap + right.width, max(left.height, right.height)), "white")
    out.paste(left, (0, 0))
    out.paste(right, (left.width + gap, 0))
    return out


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
