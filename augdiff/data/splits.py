"""The split protocol of the ADD paper (MICCAI 2024, §3 "Dataset"): per class, ``train_per_class`` images for
training and the rest split validation:test = 1:2, seeded. Official splits are kept, but an official training
split larger than ``train_per_class`` is subsampled to it, so every dataset trains on the same budget."""

from __future__ import annotations

import numpy as np

from augdiff.errors import AugdiffError
from augdiff.seeding import numpy_rng

VAL_FRACTION = 1 / 3  # val:test = 1:2


def split_per_class(
    labels: np.ndarray, classes: list[str], train_per_class: int, seed: int, where: str
) -> dict[str, np.ndarray]:
    """Indices for train/val/test from one pool of labelled images (a flat folder, Kaggle PCam, synth-histo)."""
    need = train_per_class + 2  # at least one validation and one test image per class
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for i, cls in enumerate(classes):
        pool = np.flatnonzero(labels == i)
        if len(pool) < need:
            raise AugdiffError(
                f"{where}: class '{cls}' has {len(pool)} images but the split needs at least {need} "
                f"({train_per_class} to train, the rest val:test = 1:2); add images or lower --train-per-class"
            )
        pool = numpy_rng(seed, "split", cls).permutation(pool)
        rest = len(pool) - train_per_class
        n_val = max(1, round(rest * VAL_FRACTION))
        parts["train"].append(np.sort(pool[:train_per_class]))
        parts["val"].append(np.sort(pool[train_per_class : train_per_class + n_val]))
        parts["test"].append(np.sort(pool[train_per_class + n_val :]))
    return {name: np.concatenate(p) for name, p in parts.items()}


def cap_per_class(
    labels: np.ndarray, classes: list[str], cap: int, seed: int, split: str, notes: list[str]
) -> np.ndarray:
    """Indices keeping at most ``cap`` images per class (a seeded subsample); notes what was dropped."""
    keep = []
    for i, cls in enumerate(classes):
        pool = np.flatnonzero(labels == i)
        if len(pool) > cap:
            notes.append(f"{split}: kept a seeded sample of {cap} of the {len(pool)} '{cls}' images")
            pool = np.sort(numpy_rng(seed, "cap", split, cls).choice(pool, cap, replace=False))
        keep.append(pool)
    return np.concatenate(keep)


def require_classes(labels: np.ndarray, classes: list[str], split: str, where: str) -> None:
    for i, cls in enumerate(classes):
        if not np.any(labels == i):
            raise AugdiffError(
                f"{where}: the {split} split has no '{cls}' images; every split needs every class"
            )
