"""sample_in_batches: batches of at most the given size, converted to uint8 NHWC exactly as to_uint8_images."""

from __future__ import annotations

import numpy as np
import torch

from augdiff.diffusion.data import to_uint8_images
from augdiff.pictures import sample_in_batches


def test_sample_in_batches_draws_count_images_in_batches_and_converts_them() -> None:
    x = torch.linspace(-1.5, 1.5, 7 * 3 * 2 * 2).reshape(7, 3, 2, 2)  # values outside [-1, 1] are clamped
    sizes: list[int] = []
    advanced: list[int] = []

    def draw(b: int) -> torch.Tensor:
        start = sum(sizes)
        sizes.append(b)
        return x[start : start + b]

    images = sample_in_batches(7, 3, draw, advanced.append)
    assert sizes == advanced == [3, 3, 1]
    assert images.dtype == np.uint8 and images.shape == (7, 2, 2, 3)
    np.testing.assert_array_equal(images, to_uint8_images(x))
    assert images.min() == 0 and images.max() == 255
