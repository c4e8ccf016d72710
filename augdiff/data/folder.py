"""Image-folder datasets: ROOT/{train,val,test}/<class>/* (official split kept) or ROOT/<class>/* (split here)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from augdiff.data import imageio, splits, transforms
from augdiff.data.assemble import build_dataset, concat_splits
from augdiff.data.imageio import printable
from augdiff.data.spec import SPLITS, DataOptions, Dataset
from augdiff.errors import AugdiffError

SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
LAYOUT = "ROOT/<class>/*.png (augdiff splits it) or ROOT/{train,val,test}/<class>/*.png (kept as given)"


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _hidden_subdirs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name.startswith("."))


def _scan_class(folder: Path) -> tuple[list[Path], list[Path], list[str]]:
    """(image files, skipped files, notes) under one class folder, recursively, in a stable order.

    Symlinked folders are followed (``rglob`` silently does not); a folder reached twice (a link loop, or two
    links to one folder) is read once, so no image is counted twice.
    """
    images, skipped, notes = [], [], []
    seen: dict[str, str] = {}

    def unreadable(exc: OSError) -> None:
        notes.append(f"skipped {printable(exc.filename)}: cannot list it ({exc.strerror})")

    for top, dirs, files in os.walk(folder, onerror=unreadable, followlinks=True):
        dirs.sort()
        real = os.path.realpath(top)
        if real in seen:
            dirs[:] = []
            notes.append(f"skipped {printable(top)}: the same folder as {printable(seen[real])}, already read")
            continue
        seen[real] = top
        for name in files:
            p = Path(top) / name
            hidden = any(part.startswith(".") for part in p.relative_to(folder).parts)
            (images if p.is_file() and imageio.is_image_file(p) and not hidden else skipped).append(p)
    return sorted(images), sorted(skipped), notes


def _classes_in(folder: Path) -> list[str]:
    names = [p.name for p in _subdirs(folder)]
    for name in names:
        if not name.isprintable():  # it would end up in tables, file names and manifests
            raise AugdiffError(
                f"{printable(folder / name)}: this class folder's name has control characters; rename it"
            )
    if not names:
        raise AugdiffError(f"{printable(folder)}: no class folders found; expected {LAYOUT}")
    if len(names) == 1:
        raise AugdiffError(
            f"{printable(folder)}: only one class folder ('{names[0]}'); augdiff needs at least two classes "
            f"({LAYOUT})"
        )
    return names


def load_folder(
    root: Path, options: DataOptions, *, name: str = "folder", expected: Sequence[str] | None = None
) -> Dataset:
    transforms.check_options(options)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise AugdiffError(f"--data-root {printable(root)}: no such folder; expected {LAYOUT}")
    found = {SPLIT_ALIASES[p.name.lower()]: p for p in _subdirs(root) if p.name.lower() in SPLIT_ALIASES}
    official = bool(found)
    if official and set(found) != set(SPLITS):
        missing = ", ".join(s for s in SPLITS if s not in found)
        raise AugdiffError(
            f"{printable(root)}: has {', '.join(sorted(found))} but no {missing} folder; expected {LAYOUT}"
        )
    split_dirs = {s: found[s] for s in SPLITS} if official else {"all": root}

    first = next(iter(split_dirs.values()))
    classes = _classes_in(first)
    for folder in split_dirs.values():
        here = _classes_in(folder)
        if here != classes:
            raise AugdiffError(
                f"{printable(folder)}: class folders {', '.join(here)} differ from {', '.join(classes)} in "
                f"{printable(first)}; "
                "every split needs the same class folders"
            )
    if expected is not None and sorted(expected) != classes:
        raise AugdiffError(
            f"{printable(root)}: --data {name} expects class folders {', '.join(sorted(expected))}, found "
            f"{', '.join(classes)}; rename the folders"
        )

    files: list[Path] = []
    labels: list[int] = []
    groups: list[str] = []
    skipped: list[Path] = []
    notes: list[str] = []
    for split, folder in split_dirs.items():
        hidden = _hidden_subdirs(folder)
        if hidden:
            notes.append(f"skipped hidden folder(s) {', '.join(printable(h) for h in hidden)} in "
                         f"{printable(folder)}: names starting with '.' are not classes")
        for label, cls in enumerate(classes):
            images, other, scan_notes = _scan_class(folder / cls)
            skipped += other
            notes += scan_notes
            if not images:
                raise AugdiffError(
                    f"{printable(folder / cls)}: no images ({' '.join(imageio.IMAGE_EXTS)}) in this class folder; "
                    "add images or remove the folder"
                )
            files += images
            labels += [label] * len(images)
            groups += [split] * len(images)
    if skipped:
        notes.append(f"skipped {len(skipped)} non-image file(s), e.g. {printable(skipped[0].relative_to(root))}")

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
