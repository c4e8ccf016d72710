"""The domain feature network: seeded, cached, and its Fréchet distance separates shifted sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from augdiff.metrics import evaluate_images
from augdiff.metrics.domain import DomainNetConfig, domain_features, train_domain_net


def _two_classes(rng: np.random.Generator, n: int, shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(n) % 2
    base = np.where(labels[:, None, None, None] == 0, [200, 90, 160], [90, 60, 170]).astype(float)
    images = base + rng.normal(0, 20, size=(n, 8, 8, 3)) + shift
    return np.clip(images, 0, 255).astype(np.uint8), labels


CONFIG = DomainNetConfig(size=8, steps=40, batch_size=32)


def test_training_is_seeded_learns_and_is_cached(tmp_path: Path) -> None:
    images, labels = _two_classes(np.random.default_rng(0), 64)
    a = train_domain_net(images, labels, seed=3, config=CONFIG, cache_dir=tmp_path)
    b = train_domain_net(images, labels, seed=3, config=CONFIG)
    assert a.train_accuracy == 1.0 and not a.cached
    fa, fb = domain_features(a.net, images, 8), domain_features(b.net, images, 8)
    np.testing.assert_array_equal(fa, fb)
    cached = train_domain_net(images, labels, seed=3, config=CONFIG, cache_dir=tmp_path)
    assert cached.cached and cached.key == a.key
    np.testing.assert_allclose(domain_features(cached.net, images, 8), fa, rtol=1e-6)
    other = train_domain_net(images, labels, seed=4, config=CONFIG)
    assert not np.allclose(domain_features(other.net, images, 8), fa)


def test_domain_fd_grows_with_a_colour_shift() -> None:
    rng = np.random.default_rng(1)
    real, labels = _two_classes(rng, 80)
    same, _ = _two_classes(rng, 80)
    shifted, _ = _two_classes(rng, 80, shift=60)
    kw = {"real_labels": labels, "domain_size": 8, "domain_steps": 40, "metrics": ["domain_fd"]}
    near = evaluate_images(real, same, **kw)["domain_fd"]
    far = evaluate_images(real, shifted, **kw)["domain_fd"]
    assert near["value"] < far["value"] / 3
    assert "not comparable to published FID" in near["note"]
    assert near["feature_net"]["train_accuracy"] == 1.0 and near["n_real"] == 80


def test_domain_fd_without_labels_is_unavailable_not_an_error() -> None:
    images, _ = _two_classes(np.random.default_rng(2), 10)
    result = evaluate_images(images, images, metrics=["domain_fd"])["domain_fd"]
    assert "real_labels" in result["unavailable"]


def test_unknown_option_and_bad_images_are_user_errors() -> None:
    from augdiff.errors import AugdiffError

    images, _ = _two_classes(np.random.default_rng(3), 4)
    with pytest.raises(AugdiffError, match="unknown option"):
        evaluate_images(images, images, metrics=["memorisation"], domain_stepz=3)
    with pytest.raises(AugdiffError, match="uint8"):
        evaluate_images(images.astype(np.float32), images, metrics=["memorisation"])
    with pytest.raises(AugdiffError, match="unknown metric"):
        evaluate_images(images, images, metrics=["fdi"])
