"""Stain augmentation: HED round trip and jitter, RandStainNA's fitted statistics, Reinhard, the seeded transform."""

from __future__ import annotations

import json

import numpy as np
import pytest
from he_patches import he_like

from augdiff.classify.stain import (
    HED_FROM_RGB,
    RGB_FROM_HED,
    HEDJitter,
    RandStainNA,
    StainStats,
    hed_jitter,
    hed_to_rgb,
    lab_statistics,
    reinhard,
    rgb_to_hed,
    stain_transform,
)


def _flat(colour: tuple[int, int, int], size: int = 4) -> np.ndarray:
    return np.full((size, size, 3), colour, np.uint8)


def test_hed_round_trip_is_exact_and_white_has_zero_stain():
    img = he_like()
    assert np.array_equal(hed_to_rgb(rgb_to_hed(img)), img)
    np.testing.assert_allclose(rgb_to_hed(_flat((255, 255, 255))), 0.0, atol=1e-12)
    np.testing.assert_allclose(RGB_FROM_HED @ HED_FROM_RGB, np.eye(3), atol=1e-12)


def test_hed_jitter_identity_and_direction():
    img = he_like()
    assert np.array_equal(hed_jitter(img, np.ones(3), np.zeros(3)), img)
    # More haematoxylin darkens red most (its OD vector is 0.65 R, 0.70 G, 0.29 B): the image gets bluer.
    more_h = hed_jitter(img, np.ones(3), np.array([0.3, 0.0, 0.0]))
    assert (more_h.astype(int) <= img).all()
    assert more_h[..., 0].mean() < img[..., 0].mean() - 10


def test_hed_jitter_transform_is_seeded_and_bounded():
    img = he_like()

    def run(seed: int) -> list[np.ndarray]:
        t = HEDJitter(scale_limit=0.05, shift_limit=0.05, p=1.0)
        t.set_random_seed(seed)
        return [t(image=img)["image"] for _ in range(5)]

    a, b, c = run(0), run(0), run(1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    assert all(0 < np.abs(x.astype(int) - img).mean() < 15 for x in a)  # "light": visible but small


def test_stain_stats_equal_a_hand_computation():
    # White is L=100, black L=0 and both have a = b = 0; a half-white half-black image has mean 50, std 50.
    half = _flat((0, 0, 0))
    half[:2] = 255
    stats = StainStats.fit(np.stack([_flat((255, 255, 255)), _flat((0, 0, 0)), half]))
    # Per-image L means [100, 0, 50], L stds [0, 0, 50]; spreads are population standard deviations.
    np.testing.assert_allclose(stats.avg_mean, [50, 0, 0], atol=1e-3)
    np.testing.assert_allclose(stats.avg_std, [np.sqrt(5000 / 3), 0, 0], atol=1e-3)
    np.testing.assert_allclose(stats.std_mean, [50 / 3, 0, 0], atol=1e-3)
    np.testing.assert_allclose(stats.std_std, [np.std([0, 0, 50]), 0, 0], atol=1e-3)
    assert stats.n_images == 3


def test_stain_stats_match_per_image_statistics_on_real_colours():
    images = np.stack([he_like(16, seed=s) for s in range(4)])
    stats = StainStats.fit(images)
    means, stds = map(np.array, zip(*(lab_statistics(img) for img in images)))
    np.testing.assert_allclose(stats.avg_mean, means.mean(0), rtol=1e-9)
    np.testing.assert_allclose(stats.std_std, stds.std(0), rtol=1e-9)
    assert StainStats.from_dict(json.loads(json.dumps(stats.to_dict()))) == stats


def test_reinhard_to_the_images_own_statistics_is_identity():
    for seed in range(3):
        img = he_like(seed=seed)
        out = reinhard(img, *lab_statistics(img))
        assert np.abs(out.astype(int) - img).max() <= 1


def test_reinhard_reaches_the_target_statistics():
    img = he_like()
    target = (np.array([60.0, 20.0, -10.0]), np.array([10.0, 6.0, 5.0]))
    mean, std = lab_statistics(reinhard(img, *target))
    np.testing.assert_allclose(mean, target[0], atol=1.0)
    np.testing.assert_allclose(std, target[1], rtol=0.1)


def test_templates_follow_the_fitted_distribution():
    stats = StainStats((60.0, 20.0, -10.0), (5.0, 3.0, 2.0), (12.0, 8.0, 6.0), (2.0, 1.0, 1.0), 100)
    rng = np.random.default_rng(0)
    draws = [stats.sample_template(rng, std_hyper=0.0) for _ in range(3000)]
    means, stds = np.array([d[0] for d in draws]), np.array([d[1] for d in draws])
    np.testing.assert_allclose(means.mean(0), stats.avg_mean, atol=0.3)
    np.testing.assert_allclose(means.std(0), stats.avg_std, rtol=0.06)
    np.testing.assert_allclose(stds.mean(0), stats.std_mean, atol=0.1)
    shrunk = np.array([stats.sample_template(rng)[0] for _ in range(3000)])  # std_hyper −0.3
    np.testing.assert_allclose(shrunk.std(0), 0.7 * np.array(stats.avg_std), rtol=0.06)
    for distribution in ("laplace", "uniform"):
        mean, std = stats.sample_template(rng, distribution=distribution)
        assert mean.shape == std.shape == (3,) and (std >= 0).all()
    with pytest.raises(ValueError):
        stats.sample_template(rng, distribution="cauchy")  # type: ignore[arg-type]


def test_stain_transform_varies_with_seed_stays_in_range_and_replays():
    train = np.stack([he_like(16, seed=s) for s in range(8)])
    stats = StainStats.fit(train)
    img = he_like(16, seed=99)

    def run(seed: int) -> list[np.ndarray]:
        t = stain_transform(seed, stats, p_randstain=1.0, p_hed=1.0)
        return [t(image=img)["image"] for _ in range(6)]

    a, b, c = run(0), run(0), run(1)
    assert all(x.dtype == np.uint8 and x.shape == img.shape for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not any(np.array_equal(x, y) for x, y in zip(a, c))
    assert len({x.tobytes() for x in a}) == len(a)
    # Normalised towards the training stain: still pink (R above G), not blown out to white or black.
    for x in a:
        r, g = x[..., 0].astype(float).mean(), x[..., 1].astype(float).mean()
        assert g < r and 40 < x.mean() < 230


def test_randstainna_with_probability_zero_is_identity():
    stats = StainStats.fit(he_like(16)[None])
    t = RandStainNA(stats, p=0.0)
    img = he_like(16, seed=1)
    assert np.array_equal(t(image=img)["image"], img)


def test_inputs_are_validated():
    with pytest.raises(ValueError):
        rgb_to_hed(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError):
        StainStats.fit(np.zeros((0, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError):
        HEDJitter(scale_limit=-0.1)
    with pytest.raises(ValueError):
        RandStainNA(StainStats.fit(he_like(8)[None]), std_hyper=-2.0)
