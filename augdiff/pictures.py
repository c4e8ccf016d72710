"""Pictures for people: contact sheets of uint8 images, PNG bytes, and resizing image arrays.

Every grid of samples augdiff writes (a generated set's contact sheet, ADD-Pro's strips, a benchmark's sample
rows) tiles images with white gaps through :func:`grid` and :func:`stack`, and every PNG is encoded by
:func:`png_bytes`, so that all pictures look alike and are written atomically by the caller.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

GAP = 2  # white pixels between tiles
WHITE = 255


def enlarge(image: np.ndarray, size: int) -> np.ndarray:
    """A uint8 HWC image scaled to ``size`` × ``size`` with nearest-neighbour (pixels stay visible)."""
    if image.shape[0] == size and image.shape[1] == size:
        return image
    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((size, size), Image.Resampling.NEAREST))


def grid(
    images: Sequence[np.ndarray] | np.ndarray,
    columns: int | None = None,
    *,
    tile: int | None = None,
    scale: int = 1,
    gap: int = GAP,
) -> np.ndarray:
    """Images (uint8 HWC, one size) tiled row-major on white, ``gap`` pixels apart, each enlarged to ``tile`` px;
    ``scale`` enlarges the whole sheet, tiles and gaps alike.

    ``columns`` None puts every image in one row (a strip); a last row that is not full stays white.
    """
    if len(images) == 0:
        raise ValueError("no images to tile")
    side = (tile or int(images[0].shape[0])) * scale
    gap *= scale
    tiles = [enlarge(np.asarray(img)[..., :3], side) for img in images]
    columns = len(tiles) if columns is None else min(columns, len(tiles))
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * (side + gap) - gap, columns * (side + gap) - gap, 3), WHITE, np.uint8)
    for i, img in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet[r * (side + gap) : r * (side + gap) + side, c * (side + gap) : c * (side + gap) + side] = img
    return sheet


def stack(rows: Sequence[np.ndarray], gap: int = GAP) -> np.ndarray:
    """Pictures of possibly different widths stacked vertically, ``gap`` apart, padded with white on the right."""
    width = max(r.shape[1] for r in rows)
    parts = []
    for r in rows:
        pad = np.full((r.shape[0], width - r.shape[1], 3), WHITE, dtype=np.uint8)
        parts += [np.concatenate([r, pad], axis=1), np.full((gap, width, 3), WHITE, dtype=np.uint8)]
    return np.concatenate(parts[:-1], axis=0)


def with_column_labels(sheet: np.ndarray, labels: Sequence[str], tile: int, gap: int = GAP) -> np.ndarray:
    """``sheet`` (columns of ``tile`` px, ``gap`` apart, as :func:`grid` lays them) under a white band with
    ``labels[i]`` centred over column ``i``, in PIL's default font, so that a reader can tell the columns apart."""
    font = ImageFont.load_default()
    band = max(font.getbbox(text)[3] for text in labels) + 6 if labels else 0
    width = max(sheet.shape[1], len(labels) * (tile + gap) - gap)
    head = Image.new("RGB", (width, band), "white")
    draw = ImageDraw.Draw(head)
    for i, text in enumerate(labels):
        draw.text((i * (tile + gap) + tile / 2, band / 2), text, fill="black", font=font, anchor="mm")
    return stack([np.asarray(head), sheet], gap=0)


def png_bytes(image: np.ndarray | Image.Image) -> bytes:
    """A uint8 HWC array or a PIL image encoded as PNG."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.ascontiguousarray(image))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 NHWC images resized to ``size`` × ``size`` (bicubic), or returned as they are when they already are."""
    if images.shape[1] == size and images.shape[2] == size:
        return images
    return np.stack([np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC)) for img in images])


def sample_in_batches(
    count: int, batch: int, draw: Callable[[int], Any], advance: Callable[[int], Any] | None = None
) -> np.ndarray:
    """``count`` uint8 NHWC images from a sampler: ``draw(b)`` returns a float (b, C, H, W) tensor in [-1, 1]
    (clamped here) for successive batches of at most ``batch``; ``advance(b)`` (a progress task's) after each."""
    from augdiff.diffusion.data import to_uint8_images  # torch only when sampling

    images = []
    for start in range(0, count, batch):
        b = min(batch, count - start)
        images.append(to_uint8_images(draw(b)))
        if advance is not None:
            advance(b)
    return np.concatenate(images)
