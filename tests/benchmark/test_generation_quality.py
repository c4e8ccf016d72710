"""The generation-quality section: the training split and held-out references side by side, the real-vs-real floor,
progressive sets split by level, and the cache. The cheap ``domain_fd`` metric stands in for Inception's."""

from __future__ import annotations

import numpy as np
import pytest
from bench_helpers import CLASSES, load_tiny

import augdiff.metrics
from augdiff.benchmark import generation
from augdiff.data.spec import DataOptions
from augdiff.generator import Samples, one_hot, write_generated_set
from augdiff.metrics import domain


def _rows(images: np.ndarray) -> set[bytes]:
    return {np.ascontiguousarray(img).tobytes() for img in images}


@pytest.fixture
def dataset():
    return load_tiny(DataOptions(size=16))  # 12 train, 8 val, 10 test per class


def _plain_set(tmp_path, n=24):
    rng = np.random.default_rng(5)
    labels = np.repeat([0, 1], n // 2)
    images = np.clip(np.where(labels == 1, 160, 90)[:, None, None, None] + rng.normal(0, 30, (n, 16, 16, 3)),
                     0, 255).astype(np.uint8)
    return write_generated_set(Samples(images, one_hot(labels, 2)), tmp_path / "gen", classes=CLASSES,
                               generator="gen", seed=0)


def test_the_held_out_reference_uses_no_training_image(dataset, tmp_path, monkeypatch):
    calls: list[tuple[np.ndarray, np.ndarray]] = []
    trained_on: list[np.ndarray] = []
    evaluate, train_net = augdiff.metrics.evaluate_images, domain.train_domain_net

    def spy_evaluate(real, fake, **kw):
        calls.append((real, fake))
        return evaluate(real, fake, **kw)

    def spy_train_net(images, labels, **kw):
        trained_on.append(images)
        return train_net(images, labels, **kw)

    monkeypatch.setattr(augdiff.metrics, "evaluate_images", spy_evaluate)
    monkeypatch.setattr(domain, "train_domain_net", spy_train_net)
    gen_set = _plain_set(tmp_path)
    section = generation.generation_quality({"gen": gen_set}, dataset, ["domain_fd"], tmp_path / "out", seed=0)

    train = _rows(dataset.train.images)
    held_pool = _rows(np.concatenate([dataset.val.images, dataset.test.images]))
    held = generation.references(dataset, 0)["heldout"]
    assert len(held.images) == len(dataset.train) and _rows(held.images) <= held_pool and not _rows(held.images) & train
    assert section["references"]["heldout"]["per_class"] == {"normal": 12, "tumor": 12}
    # The held-out column compared the generated sample with held-out images only …
    fake = _rows(gen_set.images())
    against_held = [real for real, f in calls if _rows(f) == fake and not _rows(real) & train]
    assert len(against_held) == 1 and _rows(against_held[0]) == _rows(held.images)
    assert len([real for real, f in calls if _rows(f) == fake]) == 2  # and the training split in the other column
    # … in the features of a network trained on held-out images only (the training column's saw the train split).
    key = section["rows"]["gen"]["heldout"]["domain_fd"]["feature_net"]["key"]
    assert key == domain.cache_key(held.images, held.labels, domain.DomainNetConfig(), 0)
    assert key != section["rows"]["gen"]["train"]["domain_fd"]["feature_net"]["key"]
    assert any(_rows(images) == _rows(held.images) for images in trained_on)
    assert all(not (_rows(images) & train) or _rows(images) == train for images in trained_on)
    # The floor (the two halves of the real data against each other) and the ratio to it, per reference.
    for ref in ("train", "heldout"):
        floor = section["floor"][ref]["domain_fd"]["value"]
        value = section["rows"]["gen"][ref]["domain_fd"]["value"]
        assert section["rows"]["gen"]["ratio"][ref]["domain_fd"] == pytest.approx(floor / value)
    md = "\n".join(generation.markdown(section))
    assert "domain_fd (train) | domain_fd (held-out)" in md and "| *real vs real* |" in md

    # Cached: a second run computes nothing.
    def no_metrics(*args, **kwargs):
        raise AssertionError("a cached result was recomputed")

    monkeypatch.setattr(augdiff.metrics, "evaluate_images", no_metrics)
    again = generation.generation_quality({"gen": gen_set}, dataset, ["domain_fd"], tmp_path / "out", seed=0)
    assert again == section


def test_a_progressive_set_gets_a_row_per_level_half(dataset, tmp_path):
    levels = np.tile(np.round(np.linspace(0.1, 1.0, 10), 1), 4)
    probs = np.stack([1 - levels, levels], axis=1).astype(np.float32)
    rng = np.random.default_rng(2)
    images = np.clip(80 + 90 * levels[:, None, None, None] + rng.normal(0, 20, (40, 16, 16, 3)), 0, 255)
    meta = [{"source": f"s{i // 10}", "level_requested": float(v)} for i, v in enumerate(levels)]
    pro = write_generated_set(Samples(images.astype(np.uint8), probs, meta), tmp_path / "pro", classes=CLASSES,
                              generator="add-pro", seed=0)
    section = generation.generation_quality({"add-pro": pro}, dataset, ["domain_fd"], tmp_path / "out", seed=0)
    rows = section["rows"]
    assert list(rows) == ["add-pro", "add-pro (L ≤ 0.5)", "add-pro (L > 0.5)"]
    assert [rows[r]["n"] for r in rows] == [40, 20, 20]
    assert rows["add-pro (L ≤ 0.5)"]["levels"] == "L ≤ 0.5"
    for name in ("add-pro (L ≤ 0.5)", "add-pro (L > 0.5)"):
        assert {"train", "heldout"} <= set(rows[name]) and rows[name]["heldout"]["domain_fd"]["value"] >= 0
    md = "\n".join(generation.markdown(section))
    assert "| add-pro (L ≤ 0.5) | 20 |" in md and "| add-pro (L > 0.5) | 20 |" in md
    # A plain set has no level rows.
    assert generation.level_groups(_plain_set(tmp_path), np.arange(24)) == {}
