"""H&E RandAugment: uint8 in/out, seeded replay, it changes images, and it keeps eosin pink (no green cast)."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest
from he_patches import he_like

from augdiff.classify.albu import seeded_compose
from augdiff.classify.randaugment import HE_OPS, he_op, randaugment_transform


def _stream(transform: A.Compose, images: list[np.ndarray]) -> list[np.ndarray]:
    return [transform(image=img)["image"] for img in images]


def test_output_is_uint8_hwc_of_the_same_shape():
    for size in (16, 32):
        out = randaugment_transform(0)(image=he_like(size))["image"]
        assert out.dtype == np.uint8 and out.shape == (size, size, 3)


def test_same_seed_replays_and_other_seed_differs():
    images = [he_like(seed=i) for i in range(20)]
    a, b = _stream(randaugment_transform(3), images), _stream(randaugment_transform(3), images)
    c = _stream(randaugment_transform(4), images)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_images_change():
    img = he_like()
    outs = _stream(randaugment_transform(1), [img] * 60)
    changed = sum(not np.array_equal(out, img) for out in outs)
    assert changed >= 50  # only Identity drawn twice (1/169) or a near-zero magnitude leaves it as it was
    assert len({out.tobytes() for out in outs}) >= 50


def test_magnitude_zero_is_the_identity_for_every_operation_with_a_magnitude():
    img = he_like()
    with_magnitude = tuple(name for name in HE_OPS if name != "equalize")  # Equalize has no magnitude
    for out in _stream(randaugment_transform(2, n=3, m=0, ops=with_magnitude), [img] * 20):
        assert np.array_equal(out, img)


@pytest.mark.parametrize("name", HE_OPS)
def test_every_operation_keeps_red_above_green_on_pink_tissue(name: str):
    img = he_like()
    transform = seeded_compose([he_op(name, 10)], seed=0)  # the strongest magnitude
    for out in _stream(transform, [img] * 25):
        r, g = out[..., 0].astype(float).mean(), out[..., 1].astype(float).mean()
        assert g < r, f"{name} cast the image green: mean R {r:.1f}, G {g:.1f}"


def test_full_policy_keeps_red_above_green():
    img = he_like()
    for out in _stream(randaugment_transform(5, n=3, m=10), [img] * 200):
        assert out[..., 1].astype(float).mean() < out[..., 0].astype(float).mean()


def test_arguments_are_validated():
    with pytest.raises(ValueError):
        randaugment_transform(0, n=0)
    with pytest.raises(ValueError):
        randaugment_transform(0, m=11)
    with pytest.raises(ValueError):
        he_op("solarize", 5)


def test_seeded_compose_decorrelates_transforms():
    # A.Compose(seed=s) gives every transform the same stream, so two p=0.5 flips always fire together and
    # never produce a mirror image; seeded_compose gives each its own stream.
    img = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    flips = [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)]
    mirrors = [img[:, ::-1], img[::-1]]

    def mirrored(transform: A.Compose) -> int:
        return sum(any(np.array_equal(transform(image=img)["image"], m) for m in mirrors) for _ in range(100))

    assert mirrored(A.Compose(flips, seed=0)) == 0
    assert 25 < mirrored(seeded_compose([A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)], seed=0)) < 75
