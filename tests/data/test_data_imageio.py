from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augdiff.data import imageio
from augdiff.errors import AugdiffError


def test_modes_are_converted_and_counted(tmp_path: Path) -> None:
    ramp = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")  # 16-bit grayscale
    Image.new("CMYK", (8, 8), (0, 255, 0, 0)).save(tmp_path / "cmyk.jpg")
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([10, 20, 30] * 256)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "pal.png", transparency=0)
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "rgb.bmp")
    log = imageio.ReadLog()
    deep, cmyk, trans, rgb = imageio.read_images(
        [tmp_path / n for n in ("deep.png", "cmyk.jpg", "pal.png", "rgb.bmp")], log
    )
    assert deep.dtype == np.uint8 and deep.shape == (8, 8, 3)
    assert deep[0, 0, 0] == 0 and deep[-1, -1, 0] == 255  # the image's own range is stretched to 0..255
    assert cmyk[0, 0, 0] > 200 and cmyk[0, 0, 1] < 60  # magenta ink reads as magenta
    assert (trans == 255).all()  # fully transparent palette pixels become white
    assert (rgb == (1, 2, 3)).all()
    assert log.notes() == [
        "scaled 1 16-bit/float image(s) to 8 bits",
        "dropped the alpha channel of 1 image(s) (composited on white)",
        "converted 1 image(s) in other colour modes (CMYK, YCbCr, palette) to RGB",
    ]


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "x.tif"
    bad.write_bytes(b"II*\0 not really a tiff")
    with pytest.raises(AugdiffError, match=r"x.tif: cannot read this image .*; replace or delete the file"):
        imageio.read_images([bad], imageio.ReadLog())


def test_extensions_are_case_insensitive() -> None:
    assert imageio.is_image_file(Path("a/B.JPEG")) and imageio.is_image_file(Path("c.Tif"))
    assert not imageio.is_image_file(Path("notes.txt"))
