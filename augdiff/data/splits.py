"""The split protocol of the ADD paper (MICCAI 2024, §3 "Dataset"): per class, ``train_per_class`` images for
training and the rest split validation:test = 1:2, seeded. Official splits are kept, but an official training
split larger than ``train_per_class`` is subsampled to it, so every dataset trains on the same budget.

``--train-per-class`` left out means *auto* (:data:`AUTO`): a flat pool of images trains on 70 % of its smallest
class, at most 500 per class, so a folder of a few hundred images per class works with the defaults; datasets
with their own train/val/test split, and the generated ones, keep the 500 cap and load exactly as before."""

from __future__ import annotations

import numpy as np

from augdiff.data.spec import AUTO, TRAIN_CAP, AutoTrainPerClass, is_auto
from augdiff.errors import AugdiffError
from augdiff.seeding import numpy_rng

__all__ = [
    "AUTO", "AUTO_RULE", "TRAIN_CAP", "AutoTrainPerClass", "auto_train_per_class", "cap_per_class", "is_auto",
    "require_classes", "split_per_class",
]

VAL_FRACTION = 1 / 3  # val:test = 1:2
AUTO_TRAIN_PERCENT = 70  # of the smallest class, when --train-per-class is auto
AUTO_MIN_PER_CLASS = 10  # 7 train, 1 validation, 2 test: the least that leaves every split every class
AUTO_RULE = (
    f"auto: {AUTO_TRAIN_PERCENT} % of the smallest class trains (at most {TRAIN_CAP} per class), the rest "
    f"val:test = 1:2; a dataset's own train/val/test split is kept, its training part capped at {TRAIN_CAP}"
)


def auto_train_per_class(class_sizes: dict[str, int], where: str) -> int:
    """The automatic training images per class for a flat pool of ``class_sizes`` images (one number for every
    class, so the classifier trains balanced)."""
    smallest = min(class_sizes, key=lambda c: class_sizes[c])
    n = class_sizes[smallest]
    if n < AUTO_MIN_PER_CLASS:
        raise AugdiffError(
            f"{where}: class '{smallest}' has {n} images; the automatic split (--train-per-class left out) needs "
            f"at least {AUTO_MIN_PER_CLASS} per class; add images, or pass --train-per-class N with N + 2 images "
            "per class"
        )
    return min(TRAIN_CAP, n * AUTO_TRAIN_PERCENT // 100)


def split_per_class(
    labels: np.ndarray, classes: list[str], train_per_class: int | None, seed: int, where: str
) -> dict[str, np.ndarray]:
    """Indices for train/val/test from one pool of labelled images (a flat folder, Kaggle PCam, synth-histo).

    ``train_per_class`` None or :data:`AUTO` applies the automatic rule; a number is taken as given.
    """
    if train_per_class is None or is_auto(train_per_class):
        train_per_class = auto_train_per_class(
            {cls: int(np.count_nonzero(labels == i)) for i, cls in enumerate(classes)}, where
        )
    need = train_per_class + 2  # at least one validation and one test image per class
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for i, cls in enumerate(classes):
        pool = np.flatnonzero(labels == i)
        if len(pool) < need:
            raise AugdiffError(
                f"{where}: class '{cls}' has {len(pool)} images but the split needs at least {need} "
                f"({train_per_class} to train, the rest val:test = 1:2); add images, lower --train-per-class, "
                "or leave it out for the automatic split"
            )
        pool = numpy_rng(seed, "split", cls).permutation(pool)
        rest = len(pool) - train_per_class
        n_val = max(1, round(rest * VAL_FRACTION))
        parts["train"].append(np.sort(pool[:train_per_class]))
        parts["val"].append(np.sort(pool[train_per_class : train_per_class + n_val]))
        parts["test"].append(np.sort(pool[train_per_class + n_val :]))
    return {name: np.concatenate(p) for name, p in parts.items()}


def cap_per_class(
    labels: np.ndarray, classes: list[str], cap: int | None, seed: int, split: str, notes: list[str]
) -> np.ndarray:
    """Indices keeping at most ``cap`` images per class (a seeded subsample); notes what was dropped.

    ``cap`` None (auto) is :data:`TRAIN_CAP`: an official split is kept as it is up to the paper's budget.
    """
    cap = TRAIN_CAP if cap is None else int(cap)
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
