"""Turn loaded pixels plus a split assignment into a :class:`Dataset`: crop/resize every split the same way."""

from __future__ import annotations

import numpy as np

from augdiff.data import transforms
from augdiff.data.spec import SPLITS, DataOptions, Dataset, Split


def concat_splits(index: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """All positions of ``index`` in split order, and where each split's block lies within that order.

    Loaders read exactly the kept images in this order, then hand ``build_dataset`` the block positions.
    """
    keep = np.concatenate([np.asarray(index[s], dtype=np.int64) for s in SPLITS])
    blocks, start = {}, 0
    for s in SPLITS:
        blocks[s] = np.arange(start, start + len(index[s]))
        start += len(index[s])
    return keep, blocks


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
