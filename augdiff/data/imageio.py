"""Read image files robustly: any PIL-readable format to uint8 RGB, with a note for every conversion."""

from __future__ import annotations

import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from augdiff.errors import AugdiffError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
_GRAY_MODES = {"1", "L", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTS


def printable(value: object) -> str:
    """``value`` as text safe for a terminal: control and other unprintable characters escaped as in ``repr``.

    A folder name holding an escape sequence would otherwise recolour or rewrite the user's terminal.
    """
    text = str(value)
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _too_large(path: Path, size: str = "") -> AugdiffError:
    return AugdiffError(
        f"{printable(path)}: the image{size} is larger than PIL's decompression-bomb limit of "
        f"{Image.MAX_IMAGE_PIXELS:,} pixels (a whole-slide image?); crop it into patches, or move it out of the "
        "data folder"
    )


@dataclass
class ReadLog:
    """Conversions made while reading, reported once per dataset rather than once per image."""

    converted: Counter[str] = field(
        default_factory=Counter
    )  # "grayscale" / "alpha" / "palette" / ... -> count

    def notes(self) -> list[str]:
        text = {
            "grayscale": "converted {n} grayscale image(s) to RGB",
            "alpha": "dropped the alpha channel of {n} image(s) (composited on white)",
            "16-bit": "scaled {n} 16-bit/float image(s) to 8 bits",
            "other": "converted {n} image(s) in other colour modes (CMYK, YCbCr, palette) to RGB",
        }
        return [text[k].format(n=n) for k, n in sorted(self.converted.items())]


def _to_rgb(img: Image.Image) -> tuple[np.ndarray, str | None]:
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8), None
    if mode == "P" and "transparency" in img.info:
        img, mode = img.convert("RGBA"), "RGBA"
    if mode in _ALPHA_MODES:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8), "alpha"
    if mode in _GRAY_MODES:
        if mode in {"1", "L"}:
            gray = np.asarray(img.convert("L"), dtype=np.uint8)
            return np.repeat(gray[..., None], 3, axis=2), "grayscale"
        # 16-bit or float: stretch the image's own range to 0..255 (these have no fixed white point).
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        gray = (
            np.zeros(arr.shape, np.uint8)
            if hi <= lo
            else np.rint((arr - lo) / (hi - lo) * 255).astype(np.uint8)
        )
        return np.repeat(gray[..., None], 3, axis=2), "16-bit"
    return np.asarray(img.convert("RGB"), dtype=np.uint8), "other"


def read_image(path: Path) -> tuple[np.ndarray, str | None]:
    """One image as uint8 (H, W, 3) and the kind of conversion applied (None if it already was 8-bit RGB)."""
    try:
        with Image.open(path) as img:
            # PIL only warns between the limit and twice it, and would decode the whole image into memory.
            if Image.MAX_IMAGE_PIXELS and img.width * img.height > Image.MAX_IMAGE_PIXELS:
                raise _too_large(path, f" ({img.width}x{img.height} pixels)")
            img.load()
            return _to_rgb(img)
    except Image.DecompressionBombError:
        raise _too_large(path) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise AugdiffError(f"{printable(path)}: cannot read this image ({exc}); replace or delete the file") from None


def read_images(paths: list[Path], log: ReadLog) -> list[np.ndarray]:
    """Decode many files; PIL releases the GIL while decoding, so two threads use both cores."""
    # PIL warns (e.g. "Corrupt EXIF data") on files it can still decode or that fail with a clear error anyway;
    # silence it once around the whole pool, since warning filters are process-global, not per thread.
    with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=4) as pool:
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # read_image raises its own error
        results = list(pool.map(read_image, paths))
    for _, kind in results:
        if kind is not None:
            log.converted[kind] += 1
    return [arr for arr, _ in results]
