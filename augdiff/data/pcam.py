"""PatchCamelyon (Veeling et al., MICCAI 2018): the official HDF5 release or the Kaggle TIF release.

PCam is large (262,144 training patches; 32,768 each for validation and test), so only what is used is read:
- HDF5: the labels are read in full (a few hundred KB), the images lazily, by index, through h5py. The official
  split is kept; training is subsampled to ``train_per_class`` per class (the ADD protocol), validation and test
  to ``0.3 x`` and ``0.6 x train_per_class`` per class (150 and 300 by default, the 1:2 ratio of the ADD paper and
  the size of pcam-mini), each a seeded sample, so the whole set stays in memory.
- Kaggle (``train/<id>.tif`` + ``train_labels.csv`` with columns id,label): there is no labelled official split,
  so it is split like a flat folder, with validation and test capped the same way.
Class 0 is ``normal``, class 1 ``tumor`` (metastatic tissue in the central 32x32 region).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from augdiff.data import imageio, splits, transforms
from augdiff.data.assemble import build_dataset, concat_splits
from augdiff.data.imageio import printable
from augdiff.data.spec import SPLITS, DataOptions, Dataset
from augdiff.errors import AugdiffError

CLASSES = ["normal", "tumor"]
H5_SPLITS = {"train": "train", "val": "valid", "test": "test"}
VAL_FRACTION, TEST_FRACTION = 0.3, 0.6  # of train_per_class: 150 / 300 for the default 500
LAYOUTS = (
    "camelyonpatch_level_2_split_{train,valid,test}_{x,y}.h5 (official, gunzipped) "
    "or train/<id>.tif + train_labels.csv (Kaggle)"
)


def h5_name(split: str, part: str) -> str:
    return f"camelyonpatch_level_2_split_{H5_SPLITS[split]}_{part}.h5"


def eval_caps(train_per_class: int) -> dict[str, int]:
    return {
        "val": max(1, round(VAL_FRACTION * train_per_class)),
        "test": max(1, round(TEST_FRACTION * train_per_class)),
    }


def pcam_root(options: DataOptions) -> Path:
    if options.root is not None:
        root = Path(options.root).expanduser()
    elif os.environ.get("AUGDIFF_DATA_ROOT"):
        root = Path(os.environ["AUGDIFF_DATA_ROOT"]).expanduser() / "pcam"
    else:
        raise AugdiffError(
            f"--data pcam: no data folder given; put {LAYOUTS} in DIR and pass --data-root DIR "
            "(or set AUGDIFF_DATA_ROOT so that DIR is $AUGDIFF_DATA_ROOT/pcam)"
        )
    if not root.is_dir():
        raise AugdiffError(f"--data pcam: {root} does not exist; put {LAYOUTS} there")
    return root


def load(options: DataOptions) -> Dataset:
    transforms.check_options(options)
    root = pcam_root(options)
    if any((root / h5_name(s, p)).exists() for s in SPLITS for p in ("x", "y")):
        return load_h5(root, options)
    if (root / "train_labels.csv").is_file():
        return load_kaggle(root, options)
    if list(root.glob("camelyonpatch_level_2_split_*.h5.gz")):
        raise AugdiffError(f"{root}: the PCam files are still gzipped; run `gunzip {root}/*.h5.gz` first")
    if (root / "train").is_dir() and any(p.is_dir() for p in (root / "train").iterdir()):
        raise AugdiffError(f"{root}: looks like an image-folder layout; use --data folder --data-root {root}")
    raise AugdiffError(f"{root}: no PatchCamelyon files found; expected {LAYOUTS}")


def _h5_labels(path: Path) -> np.ndarray:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return np.asarray(f["y"][:]).reshape(-1).astype(np.int64)
    except (OSError, KeyError) as exc:
        raise AugdiffError(f"{path}: cannot read the PCam labels ({exc}); download the file again") from None


def _h5_images(path: Path, index: np.ndarray) -> np.ndarray:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return np.asarray(f["x"][np.sort(index)], dtype=np.uint8)  # h5py needs increasing indices
    except (OSError, KeyError, TypeError) as exc:
        raise AugdiffError(f"{path}: cannot read the PCam images ({exc}); download the file again") from None


def load_h5(root: Path, options: DataOptions) -> Dataset:
    missing = [h5_name(s, p) for s in SPLITS for p in ("x", "y") if not (root / h5_name(s, p)).is_file()]
    if missing:
        raise AugdiffError(f"{root}: missing {', '.join(missing)}; the official release has all six files")
    notes: list[str] = []
    caps = {"train": options.train_per_class, **eval_caps(options.train_per_class)}
    images, labels, ids, index, start = [], [], [], {}, 0
    for split in SPLITS:
        y = _h5_labels(root / h5_name(split, "y"))
        if set(np.unique(y)) - {0, 1}:
            raise AugdiffError(f"{root / h5_name(split, 'y')}: labels must be 0 (normal) or 1 (tumor)")
        splits.require_classes(y, CLASSES, split, str(root))
        keep = np.sort(splits.cap_per_class(y, CLASSES, caps[split], options.seed, split, notes))
        x = _h5_images(root / h5_name(split, "x"), keep)
        if x.ndim != 4 or x.shape[-1] != 3 or len(x) != len(keep):
            raise AugdiffError(f"{root / h5_name(split, 'x')}: expected (N, 96, 96, 3) images, got {x.shape}")
        images.append(x)
        labels.append(y[keep])
        ids += [f"{H5_SPLITS[split]}/{i}" for i in keep]
        index[split] = np.arange(start, start + len(keep))
        start += len(keep)
    return build_dataset(
        "pcam", CLASSES, np.concatenate(images), np.concatenate(labels), ids, index, options, notes
    )


def _kaggle_labels(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"id", "label"} <= set(reader.fieldnames):
            raise AugdiffError(f"{path}: expected a header 'id,label', found {reader.fieldnames}")
        rows = [(r["id"], r["label"]) for r in reader]
    try:
        labels = np.asarray([int(lab) for _, lab in rows], dtype=np.int64)
    except ValueError as exc:
        raise AugdiffError(f"{path}: labels must be 0 or 1 ({exc})") from None
    if set(np.unique(labels)) - {0, 1}:
        raise AugdiffError(f"{path}: labels must be 0 (normal) or 1 (tumor)")
    for row, (name, _) in enumerate(rows, start=2):
        # An id names a file in train/: a path ("../../x", "/etc/x") would read outside the data root.
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise AugdiffError(
                f"{printable(path)}: line {row}: id {name!r} is not a plain file name; Kaggle ids "
                "name files train/<id>.tif, so fix or remove that row"
            )
    return [i for i, _ in rows], labels


def load_kaggle(root: Path, options: DataOptions) -> Dataset:
    names, labels = _kaggle_labels(root / "train_labels.csv")
    notes: list[str] = []
    index = splits.split_per_class(labels, CLASSES, options.train_per_class, options.seed, str(root))
    for split, cap in eval_caps(options.train_per_class).items():
        pool = index[split]
        index[split] = np.sort(
            pool[splits.cap_per_class(labels[pool], CLASSES, cap, options.seed, split, notes)]
        )
    keep, blocks = concat_splits(index)
    paths = [root / "train" / f"{names[i]}.tif" for i in keep]
    for p in paths:
        if not p.is_file():
            raise AugdiffError(
                f"{printable(p)}: listed in train_labels.csv but missing; restore it or remove its row"
            )
    log = imageio.ReadLog()
    pixels = imageio.read_images(paths, log)
    notes += log.notes()
    stacked = transforms.stack_common_size(pixels, notes)
    ids = [f"train/{names[i]}.tif" for i in keep]
    return build_dataset("pcam", CLASSES, stacked, labels[keep], ids, blocks, options, notes)
