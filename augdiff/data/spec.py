"""What every dataset provides: named splits of uint8 RGB images with integer labels."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test")
TRAIN_CAP = 500  # the ADD paper's training images per class


class AutoTrainPerClass(int):
    """``--train-per-class`` left to the rule. It *is* the cap (an ``int``), so every loader that reads the budget
    as a number (PCam, synth-histo, official folder splits) loads what it always did, and run ids and benchmark
    keys stay unchanged; only :func:`split_per_class` on a flat pool recognises it and applies the 70 % rule."""

    def __repr__(self) -> str:
        return f"AutoTrainPerClass({int(self)})"

    __str__ = int.__repr__  # f-strings and messages show the number, as for a plain int


AUTO = AutoTrainPerClass(TRAIN_CAP)


def is_auto(train_per_class: int | None) -> bool:
    return train_per_class is None or isinstance(train_per_class, AutoTrainPerClass)


@dataclass(frozen=True)
class DataOptions:
    """Everything the user can say about how to load a dataset (``--data-root``, ``--crop``, ...)."""

    root: Path | None = None
    seed: int = 0
    # None = auto (``augdiff.data.splits.AUTO_RULE``): 70 % of a flat pool's smallest class, at most 500; a
    # number is taken as given (the ADD paper's protocol is 500 per class, the rest val:test = 1:2).
    train_per_class: int | None = None
    crop: int | None = None  # centre crop in pixels (32 reproduces DDPM-PCam), applied before resize
    size: int | None = None  # final square size in pixels

    def __post_init__(self) -> None:
        # Stored as the cap-valued marker, not None: loaders read the budget as a number (see AutoTrainPerClass).
        if self.train_per_class is None:
            object.__setattr__(self, "train_per_class", AUTO)

    @property
    def auto_train_per_class(self) -> bool:
        return is_auto(self.train_per_class)

    def record(self) -> dict[str, object]:
        """JSON-ready form for run.json and reports.

        Auto records its cap (500), exactly what the former default recorded, so run records and benchmark
        folders of datasets with their own splits keep their keys; the counts drawn are in the split counts.
        """
        return {
            k: (str(v) if isinstance(v, Path) else int(v) if k == "train_per_class" and v is not None else v)
            for k, v in self.__dict__.items()
        }


@dataclass
class Split:
    """One split, fully in memory after crop/resize: small sets are the whole point of augdiff."""

    name: str
    classes: list[str]
    images: np.ndarray  # uint8 (N, H, W, 3)
    labels: np.ndarray  # int64 (N,)
    ids: list[str]  # a stable identifier per image (relative path, HDF5 index, ...) for manifests
    stages: np.ndarray | None = None  # float (N,) ground-truth stage in [0, 1] where known (synth-histo)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    def counts(self) -> dict[str, int]:
        return {c: int((self.labels == i).sum()) for i, c in enumerate(self.classes)}

    def of_class(self, cls: int) -> Split:
        keep = np.flatnonzero(self.labels == cls)
        return self.subset(keep)

    def subset(self, index: Sequence[int] | np.ndarray) -> Split:
        index = np.asarray(index, dtype=np.int64)
        return Split(
            self.name,
            self.classes,
            self.images[index],
            self.labels[index],
            [self.ids[i] for i in index],
            None if self.stages is None else self.stages[index],
        )

    def fingerprint(self) -> str:
        """Content hash of pixels, labels and class names: equal data gives equal fingerprints."""
        h = hashlib.sha256()
        h.update(repr((self.name, self.classes, self.images.shape)).encode())
        h.update(np.ascontiguousarray(self.images).tobytes())
        h.update(np.ascontiguousarray(self.labels, dtype=np.int64).tobytes())
        return h.hexdigest()[:16]


@dataclass
class Dataset:
    """A loaded dataset: its name, classes, the three splits, and notes the loader wants the user to see."""

    name: str
    classes: list[str]
    splits: dict[str, Split]
    notes: list[str] = field(default_factory=list)  # e.g. "converted 3 RGBA images to RGB"

    @property
    def train(self) -> Split:
        return self.splits["train"]

    @property
    def val(self) -> Split:
        return self.splits["val"]

    @property
    def test(self) -> Split:
        return self.splits["test"]

    @property
    def image_size(self) -> int:
        return self.train.image_size

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for name in SPLITS:
            h.update(self.splits[name].fingerprint().encode())
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class DatasetSpec:
    """How a plugin registers a dataset: ``register(DatasetSpec("rose", load_rose, "…"))``."""

    name: str
    load: Callable[[DataOptions], Dataset]
    description: str = ""
