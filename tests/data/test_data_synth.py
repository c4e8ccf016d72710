from __future__ import annotations

import numpy as np
import pytest

from augdiff.data import DataOptions, load_dataset, synth_histo, synth_render


@pytest.fixture(scope="module")
def synth():  # type: ignore[no-untyped-def]
    return load_dataset("synth-histo", DataOptions())


def test_default_split_and_stages(synth) -> None:  # type: ignore[no-untyped-def]
    assert synth.classes == ["normal", "tumor"]
    assert {s: synth.splits[s].counts() for s in synth.splits} == {
        "train": {"normal": 500, "tumor": 500},
        "val": {"normal": 150, "tumor": 150},
        "test": {"normal": 300, "tumor": 300},
    }
    assert synth.image_size == 64 and synth.train.images.dtype == np.uint8
    for split in synth.splits.values():
        assert split.stages is not None and split.stages.shape == split.labels.shape
        assert split.stages.min() >= 0 and split.stages.max() <= 1
    s, y = synth.train.stages, synth.train.labels
    assert s[y == 0].mean() < 0.3 < 0.7 < s[y == 1].mean()


def test_seed_changes_the_split_not_the_tissue(synth) -> None:  # type: ignore[no-untyped-def]
    other = load_dataset("synth-histo", DataOptions(seed=1))
    assert other.fingerprint() != synth.fingerprint()
    a = dict(zip(synth.train.ids, synth.train.images, strict=True))
    common = [(i, img) for i, img in zip(other.train.ids, other.train.images, strict=True) if i in a]
    assert len(common) > 100 and all(np.array_equal(a[i], img) for i, img in common)


def test_cached_and_deterministic(synth, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    files = list(synth_histo.cache_dir().glob("*.npz"))
    assert files, "the rendered population is cached"

    def no_render(*_args: object) -> None:
        raise AssertionError("rendered again despite the cache")

    monkeypatch.setattr(synth_histo, "render_population", no_render)
    again = load_dataset("synth-histo", DataOptions(size=16))
    assert again.image_size == 16
    assert load_dataset("synth-histo", DataOptions()).fingerprint() == synth.fingerprint()


def test_render_is_deterministic_per_block_and_resolution_independent() -> None:
    stages = np.array([0.1, 0.9])
    a = synth_render.render(stages, np.random.default_rng(5), 64)
    b = synth_render.render(stages, np.random.default_rng(5), 64)
    np.testing.assert_array_equal(a, b)
    big = synth_render.render(stages, np.random.default_rng(5), 128)
    small = big.reshape(2, 64, 2, 64, 2, 3).astype(float).mean(axis=(2, 4))
    # Same tissue at twice the resolution: the 2x-downsampled render matches closely (noise and aliasing differ).
    same = np.abs(small - a.astype(float)).mean()
    swapped = np.abs(small - np.roll(a, 1, axis=0).astype(float)).mean()  # each compared with the other image
    assert same < 0.35 * swapped


def test_render_size_follows_the_request() -> None:
    assert synth_histo.render_size(DataOptions()) == 64
    assert synth_histo.render_size(DataOptions(size=16)) == 64
    assert synth_histo.render_size(DataOptions(size=96)) == 96
    assert synth_histo.render_size(DataOptions(size=96, crop=32)) == 64


def test_stage_drives_visible_morphology() -> None:
    """Hematoxylin-dark pixel fraction (nuclei) rises with s, within each class too."""
    rng = np.random.default_rng(0)
    s = np.linspace(0, 1, 60)
    img = synth_render.render(s, rng, 64).astype(float)
    od = -np.log((img + 1) / 256)
    dark = (od[..., 0] > 0.8).mean(axis=(1, 2))  # red is absorbed by hematoxylin, barely by eosin
    rank = np.corrcoef(np.argsort(np.argsort(s)), np.argsort(np.argsort(dark)))[0, 1]
    assert rank > 0.85
    low, high = dark[:20].mean(), dark[-20:].mean()
    assert high > 2 * low


def test_looks_like_h_and_e() -> None:
    """Colour sanity against stained tissue: pink-dominant background (R > G, B > G), bright and not flat."""
    img = synth_render.render(np.full(20, 0.2), np.random.default_rng(1), 64).astype(float)
    r, g, b = img[..., 0].mean(), img[..., 1].mean(), img[..., 2].mean()
    assert r > g + 30 and b > g + 20 and 130 < img.mean() < 230
    assert img.std(axis=(1, 2)).mean() > 15


def test_population_grows_without_changing_existing_images(synth) -> None:  # type: ignore[no-untyped-def]
    images, labels, stages = synth_histo.render_population(60, 64)
    assert np.bincount(labels).tolist() == [60, 60]
    full, full_labels, full_stages = synth_histo.population(950, 64)
    for cls in (0, 1):
        np.testing.assert_array_equal(images[labels == cls], full[full_labels == cls][:60])
        np.testing.assert_array_equal(stages[labels == cls], full_stages[full_labels == cls][:60])
