from __future__ import annotations

import numpy as np
import pytest
import torch

from augdiff.data import transforms
from augdiff.data.spec import DataOptions
from augdiff.errors import AugdiffError


def _images(n: int = 3, size: int = 12) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_center_crop_takes_the_middle() -> None:
    x = _images(size=12)
    out = transforms.center_crop(x, 4)
    assert out.shape == (3, 4, 4, 3)
    np.testing.assert_array_equal(out, x[:, 4:8, 4:8])


def test_crop_larger_than_image_names_the_option() -> None:
    with pytest.raises(AugdiffError, match=r"--crop 20: larger than the 12x12 images; choose at most 12"):
        transforms.center_crop(_images(size=12), 20)


def test_integer_shrink_is_exact_area_average() -> None:
    x = _images(size=8)
    out = transforms.resize(x, 4)
    expected = x.reshape(3, 4, 2, 4, 2, 3).astype(float).mean(axis=(2, 4))
    np.testing.assert_array_equal(out, np.rint(expected).astype(np.uint8))


def test_non_integer_resize_and_enlarge_keep_colour() -> None:
    flat = np.full((2, 12, 12, 3), (200, 100, 50), dtype=np.uint8)
    for size in (5, 20):
        out = transforms.resize(flat, size)
        assert out.shape == (2, size, size, 3)
        assert np.abs(out.astype(int) - (200, 100, 50)).max() <= 1


def test_apply_crops_before_resizing() -> None:
    x = np.zeros((1, 12, 12, 3), dtype=np.uint8)
    x[:, 4:8, 4:8] = 255  # only the centre is white: crop first, and the result is all white
    out = transforms.apply(x, DataOptions(crop=4, size=2))
    assert out.shape == (1, 2, 2, 3) and (out == 255).all()


def test_tensor_round_trip_and_range() -> None:
    x = _images()
    t = transforms.to_tensor_minus1_1(x)
    assert t.shape == (3, 3, 12, 12) and t.dtype == torch.float32
    assert t.min() >= -1 and t.max() <= 1
    np.testing.assert_array_equal(transforms.from_tensor_minus1_1(t), x)
    assert transforms.from_tensor_minus1_1(torch.full((1, 3, 2, 2), 3.0)).max() == 255


def test_stack_common_size_resizes_odd_ones_and_says_so_once() -> None:
    notes: list[str] = []
    imgs = [np.zeros((8, 8, 3), np.uint8)] * 3 + [np.zeros((10, 10, 3), np.uint8)] * 2
    out = transforms.stack_common_size(imgs, notes)
    assert out.shape == (5, 8, 8, 3)
    assert notes == ["resized 2 image(s) of other sizes to the most common size 8x8"]


def test_stack_common_size_squares_rectangles() -> None:
    notes: list[str] = []
    out = transforms.stack_common_size([np.zeros((6, 10, 3), np.uint8)] * 2, notes)
    assert out.shape == (2, 6, 6, 3)
    assert "centre-cropped the 6x10 images to 6x6" in notes[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"crop": 0}, "--crop 0: must be a positive"),
        ({"size": -1}, "--size -1: must be a positive"),
        ({"train_per_class": 0}, "--train-per-class 0: must be at least 1"),
    ],
)
def test_check_options(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(AugdiffError, match=message):
        transforms.check_options(DataOptions(**kwargs))
