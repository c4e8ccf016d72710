"""Memorisation flags copies of training images and writes the closest pairs as a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from augdiff.metrics import evaluate_images
from augdiff.metrics.memorisation import closest_pairs, downscale, pairs_png, two_nearest


def _images(rng: np.random.Generator, n: int, size: int = 16) -> np.ndarray:
    return rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def test_exact_and_near_copies_are_flagged_and_located() -> None:
    rng = np.random.default_rng(0)
    real = _images(rng, 30)
    noisy = np.clip(real[11].astype(int) + rng.integers(-3, 4, size=real[11].shape), 0, 255).astype(np.uint8)
    fake = np.concatenate([_images(rng, 5), real[[3, 7]], noisy[None]])
    nb = two_nearest(downscale(fake, 16), downscale(real, 16))
    flags = nb.near_copies(1 / 3)
    assert flags.tolist() == [False] * 5 + [True] * 3
    assert nb.index[5:].tolist() == [3, 7, 11]
    assert nb.d1[5] == 0.0 and nb.d1[6] == 0.0 and nb.d1[7] > 0.0
    assert [p["fake"] for p in closest_pairs(nb, 3)][:2] == [5, 6]


def test_duplicate_training_images_still_count_an_exact_copy() -> None:
    rng = np.random.default_rng(1)
    real = _images(rng, 10)
    real[4] = real[2]  # d1 == d2 == 0: the ratio alone would not decide
    nb = two_nearest(downscale(real[[2]], 16), downscale(real, 16))
    assert nb.near_copies(1 / 3).tolist() == [True]


def test_evaluate_images_reports_share_and_writes_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    real = _images(rng, 24)
    fake = np.concatenate([real[:2], _images(rng, 6)])
    result = evaluate_images(real, fake, metrics=["memorisation"], out_dir=tmp_path, closest_pairs=4,
                             memorisation_features=("domain",), real_labels=np.arange(24) % 2,
                             domain_steps=5, domain_size=16)["memorisation"]
    assert result["value"] == 2 / 8
    assert result["pixel"]["near_copies"] == 2
    assert result["n_real"] == 24 and result["n_fake"] == 8
    assert result["features"]["domain"]["near_copy_share"] >= 0.25  # identical inputs give identical features
    png = Path(result["png"])
    assert png == tmp_path / "closest_pairs.png"
    with Image.open(png) as im:
        assert im.size[1] > 4 * 64  # four rows, each at least 64 px tall
    assert [p.name for p in tmp_path.iterdir()] == ["closest_pairs.png"]  # no temporary file left behind


def test_pairs_png_puts_fake_left_and_real_right(tmp_path: Path) -> None:
    fake = np.zeros((1, 8, 8, 3), np.uint8)
    real = np.full((2, 8, 8, 3), 200, np.uint8)
    path = pairs_png(fake, real, [{"fake": 0, "real": 1}], tmp_path / "p.png", min_side=8)
    arr = np.asarray(Image.open(path))
    assert arr[4:12, 4:12].max() == 0 and arr[4:12, 16:24].min() == 200
