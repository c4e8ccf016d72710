"""Builders for tiny on-disk datasets used by the data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_images(
    folder: Path, n: int, *, size: int = 8, mode: str = "RGB", seed: int = 0, ext: str = "png", start: int = 0
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": None}[mode]
    paths = []
    for i in range(start, start + n):
        shape = (size, size) if channels is None else (size, size, channels)
        arr = rng.integers(0, 256, shape, dtype=np.uint8)
        if mode == "RGBA":
            arr[..., 3] = 255
        path = folder / f"img{i:04d}.{ext}"
        Image.fromarray(arr, mode).save(path)
        paths.append(path)
    return paths


def flat_folder(root: Path, per_class: dict[str, int], size: int = 8) -> Path:
    for k, (cls, n) in enumerate(per_class.items()):
        write_images(root / cls, n, size=size, seed=k)
    return root


def split_folder(root: Path, counts: dict[str, dict[str, int]], size: int = 8) -> Path:
    for s, (split, per_class) in enumerate(counts.items()):
        for k, (cls, n) in enumerate(per_class.items()):
            write_images(root / split / cls, n, size=size, seed=10 * s + k)
    return root


def snapshot(root: Path) -> set[str]:
    """Every file under ``root`` (hidden temp files included), to assert that nothing was written."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
