"""Image-folder datasets: ROOT/{train,val,test}/<class>/* (official split kept) or ROOT/<class>/* (split here)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from augdiff.data import imageio, splits, transforms
from augdiff.data.assemble import build_dataset, concat_splits
from augdiff.data.spec import SPLITS, DataOptions, Dataset
from augdiff.errors import AugdiffError

SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
LAYOUT = "ROOT/<class>/*.png (augdiff splits it) or ROOT/{train,val,test}/<class>/*.png (kept as given)"


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _scan_class(folder: Path) -> tuple[list[Path], list[Path]]:
    """(image files, skipped files) under one class folder, recursively, in a stable order."""
    images, skipped = [], []
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        hidden = any(part.startswith(".") for part in p.relative_to(folder).parts)
        (images if imageio.is_image_file(p) and not hidden else skipped).append(p)
    return images, skipped


def _classes_in(folder: Path) -> list[str]:
    names = [p.name for p in _subdirs(folder)]
    if not names:
        raise AugdiffError(f"{folder}: no class folders found; expected {LAYOUT}")
    if len(names) == 1:
        raise AugdiffError(
            f"{folder}: only one class folder ('{names[0]}'); augdiff needs at least two classes ({LAYOUT})"
        )
    return names


def load_folder(
    root: Path, options: DataOptions, *, name: str = "folder", expected: Sequence[str] | None = None
) -> Dataset:
    transforms.check_options(options)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise AugdiffError(f"--data-root {root}: no such folder; expected {LAYOUT}")
    found = {SPLIT_ALIASES[p.name.lower()]: p for p in _subdirs(root) if p.name.lower() in SPLIT_ALIASES}
    official = bool(found)
    if official and set(found) != set(SPLITS):
        missing = ", ".join(s for s in SPLITS if s not in found)
        raise AugdiffError(
            f"{root}: has {', '.join(sorted(found))} but no {missing} folder; expected {LAYOUT}"
        )
    split_dirs = {s: found[s] for s in SPLITS} if official else {"all": root}

    first = next(iter(split_dirs.values()))
    classes = _classes_in(first)
    for folder in split_dirs.values():
        here = _classes_in(folder)
        if here != classes:
            raise AugdiffError(
                f"{folder}: class folders {', '.join(here)} differ from {', '.join(classes)} in {first}; "
                "every split needs the same class folders"
            )
    if expected is not None and sorted(expected) != classes:
        raise AugdiffError(
            f"{root}: --data {name} expects class folders {', '.join(sorted(expected))}, found "
            f"{', '.join(classes)}; rename the folders"
        )

    files: list[Path] = []
    labels: list[int] = []
    groups: list[str] = []
    skipped: list[Path] = []
    for split, folder in split_dirs.items():
        for label, cls in enumerate(classes):
            images, other = _scan_class(folder / cls)
            skipped += other
            if not images:
                raise AugdiffError(
                    f"{folder / cls}: no images ({' '.join(imageio.IMAGE_EXTS)}) in this class folder; "
                    "add images or remove the folder"
                )
            files += images
            labels += [label] * len(images)
            groups += [split] * len(images)
    notes: list[str] = []
    if skipped:
        notes.append(f"skipped {len(skipped)} non-image file(s), e.g. {skipped[0].relative_to(root)}")

    label_arr = np.asarray(labels, dtype=np.int64)
    group_arr = np.asarray(groups)
    if official:
        index = {s: np.flatnonzero(group_arr == s) for s in SPLITS}
        train = index["train"]
        index["train"] = train[
            splits.cap_per_class(
                label_arr[train], classes, options.train_per_class, options.seed, "train", notes
            )
        ]
    else:
        index = splits.split_per_class(label_arr, classes, options.train_per_class, options.seed, str(root))
    index = {s: np.sort(i) for s, i in index.items()}

    # Read only the files that are kept (a capped official training split may be much larger).
    keep, blocks = concat_splits(index)
    log = imageio.ReadLog()
    pixels = imageio.read_images([files[i] for i in keep], log)
    notes += log.notes()
    stacked = transforms.stack_common_size(pixels, notes)
    ids = [files[i].relative_to(root).as_posix() for i in keep]
    return build_dataset(name, classes, stacked, label_arr[keep], ids, blocks, options, notes)


def named_root(name: str, options: DataOptions, classes: Sequence[str]) -> Path:
    """Where a named folder dataset lives: ``--data-root`` or ``$AUGDIFF_DATA_ROOT/<name>``."""
    if options.root is not None:
        return Path(options.root)
    layout = f"DIR/{{{','.join(classes)}}}/*.png or DIR/{{train,val,test}}/{{{','.join(classes)}}}/*.png"
    env = os.environ.get("AUGDIFF_DATA_ROOT")
    if not env:
        raise AugdiffError(
            f"--data {name}: no data folder given; put the images in {layout} and pass --data-root DIR "
            f"(or set AUGDIFF_DATA_ROOT so that DIR is $AUGDIFF_DATA_ROOT/{name})"
        )
    root = Path(env).expanduser() / name
    if not root.is_dir():
        raise AugdiffError(
            f"--data {name}: {root} ($AUGDIFF_DATA_ROOT/{name}) does not exist; put the images there as "
            f"{layout.replace('DIR', str(root))}, or pass --data-root DIR"
        )
    return root


def folder_loader(name: str, classes: Sequence[str]) -> Callable[[DataOptions], Dataset]:
    """A ``DatasetSpec.load`` for a named folder dataset with fixed classes (rose, prcc)."""

    def load(options: DataOptions) -> Dataset:
        return load_folder(named_root(name, options, classes), options, name=name, expected=classes)

    return load


def load_generic(options: DataOptions) -> Dataset:
    if options.root is None:
        raise AugdiffError(f"--data folder needs --data-root DIR: a folder laid out as {LAYOUT}")
    return load_folder(options.root, options)
