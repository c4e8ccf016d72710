"""Turn loaded pixels plus a split assignment into a :class:`Dataset`: crop/resize every split the same way."""

from __future__ import annotations

import numpy as np

from augdiff.data import transforms
from augdiff.data.spec import SPLITS, DataOptions, Dataset, Split


def build_dataset(
    name: str,
    classes: list[str],
    images: np.ndarray,
    labels: np.ndarray,
    ids: list[str],
    index: dict[str, np.ndarray],
    options: DataOptions,
    notes: list[str],
    stages: np.ndarray | None = None,
) -> Dataset:
    """``index`` maps each split name to positions in ``images``/``labels``/``ids``."""
    labels = np.asarray(labels, dtype=np.int64)
    splits = {}
    for split in SPLITS:
        idx = np.asarray(index[split], dtype=np.int64)
        splits[split] = Split(
            split,
            list(classes),
            transforms.apply(images[idx], options),
            labels[idx],
            [ids[i] for i in idx],
            None if stages is None else stages[idx].astype(np.float32),
        )
    return Dataset(name, list(classes), splits, notes)
