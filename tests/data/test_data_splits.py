from __future__ import annotations

import numpy as np
import pytest

from augdiff.data import splits
from augdiff.errors import AugdiffError

CLASSES = ["a", "b"]


def _labels(n_a: int, n_b: int) -> np.ndarray:
    return np.array([0] * n_a + [1] * n_b)


def test_add_protocol_counts_and_partition() -> None:
    labels = _labels(950, 800)
    idx = splits.split_per_class(labels, CLASSES, 500, seed=1, where="x")
    counts = {s: np.bincount(labels[i], minlength=2).tolist() for s, i in idx.items()}
    assert counts == {"train": [500, 500], "val": [150, 100], "test": [300, 200]}
    everything = np.concatenate(list(idx.values()))
    assert len(everything) == len(labels) == len(np.unique(everything))


def test_split_is_seeded() -> None:
    labels = _labels(60, 60)
    a = splits.split_per_class(labels, CLASSES, 20, seed=1, where="x")
    b = splits.split_per_class(labels, CLASSES, 20, seed=1, where="x")
    c = splits.split_per_class(labels, CLASSES, 20, seed=2, where="x")
    assert all(np.array_equal(a[s], b[s]) for s in a)
    assert not np.array_equal(a["train"], c["train"])


def test_too_few_images_says_how_many_are_needed() -> None:
    with pytest.raises(
        AugdiffError, match=r"class 'b' has 6 images but the split needs at least 7 \(5 to train"
    ):
        splits.split_per_class(_labels(10, 6), CLASSES, 5, seed=0, where="ROOT")


def test_cap_per_class_subsamples_and_notes() -> None:
    notes: list[str] = []
    labels = _labels(10, 3)
    keep = splits.cap_per_class(labels, CLASSES, 4, seed=0, split="train", notes=notes)
    assert np.bincount(labels[keep]).tolist() == [4, 3]
    assert notes == ["train: kept a seeded sample of 4 of the 10 'a' images"]
