"""Benchmark images no generator plugin made: ``augdiff benchmark --generated NAME=DIR``.

DIR is either an augdiff generated set (``manifest.jsonl`` and ``set.json``, as ``augdiff augment --out`` writes
it) or plain class folders from any tool, ``DIR/<class>/*.png|jpg|tif``, whose images get one-hot labels. Its rows
are named NAME (``NAME/mixed``, …) and are planned like a generator's: a one-hot set takes the recipes a plain
generator takes (synthetic, mixed, aug-5000), a set with soft labels the ones ADD-Pro's progressive set takes
(``progressive``). Nothing is fitted or sampled, so an external row has one "fit" and its intervals cover
classifier seeds only.

Every check is made before any training: the folder, its class folders against the data's classes, that every
image can be read, and that it holds as many images per class as each recipe needs. Images at another size are
resized to the classifier's input size, as a generator's are. The set's *fingerprint* hashes its files, pixels
and labels: it names the set in the report, and cells are cached by the training sets built from it, so changing
an image in DIR retrains what used it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from augdiff import plugins
from augdiff.benchmark import recipes
from augdiff.benchmark.variants import ROW_NAME
from augdiff.data import imageio
from augdiff.data.imageio import printable
from augdiff.data.spec import Dataset
from augdiff.errors import AugdiffError
from augdiff.generated_set import MANIFEST, GeneratedSet, pixel_hash, read_generated_set, set_info
from augdiff.pictures import resize_images

SYNTAX = "NAME=DIR, e.g. --generated mine=~/sets/tumour (an `augdiff augment --out` folder or DIR/<class>/*.png)"
AUGDIFF_SET = "augdiff generated set"
CLASS_FOLDERS = "class folders"
_READ_BATCH = 256  # images decoded at once while checking a set: bounded memory for large sets


@dataclass(frozen=True)
class ExternalSource:
    """``--generated NAME=DIR`` after a first look (no data needed): its kind and whether it has soft labels."""

    name: str
    directory: Path
    kind: str  # AUGDIFF_SET or CLASS_FOLDERS
    soft: bool

    @property
    def option(self) -> str:
        return f"--generated {self.name}={printable(self.directory)}"

    def plays(self) -> str:
        """The generator whose recipes apply: a soft-labelled set is progressive by design, as ADD-Pro's is."""
        return recipes.PROGRESSIVE_GENERATOR if self.soft else self.name


@dataclass
class ExternalSet(GeneratedSet):
    """An external set read through augdiff's image reader and resized to the classifier's input size."""

    size: int | None = None
    source: dict[str, Any] = field(default_factory=dict)  # what the report says about where it came from

    def image(self, i: int) -> np.ndarray:
        img, _ = imageio.read_image(self.directory / self.records[i]["file"])
        return img if self.size is None else resize_images(img[None], self.size)[0]


def parse_generated(items: Sequence[str] | None) -> dict[str, Path]:
    """``--generated NAME=DIR`` items as ``{NAME: DIR}``."""
    out: dict[str, Path] = {}
    for item in items or []:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not ROW_NAME.match(name) or not raw.strip():
            raise AugdiffError(f"--generated {item!r}: expected {SYNTAX}")
        if name in out:
            raise AugdiffError(f"--generated {item!r}: the name {name} is given twice; give each set its own name")
        out[name] = Path(raw.strip()).expanduser()
    return out


def scan(generated: dict[str, Path], taken: Sequence[str]) -> list[ExternalSource]:
    """Each ``--generated`` folder's kind, checked against the benchmarked generator and variant names ``taken``."""
    installed = plugins.generators()
    sources = []
    for name, given in generated.items():
        directory = Path(given)
        option = f"--generated {name}={printable(directory)}"
        if name in installed or name in taken:
            raise AugdiffError(f"{option}: {name} is already a generator or variant name; give the set its own name")
        if not directory.is_dir():
            what = "is a file, not a folder" if directory.exists() else "no such folder"
            raise AugdiffError(f"{option}: {what}; give a generated set or a folder of class folders")
        if (directory / MANIFEST).is_file():
            gen_set = read_generated_set(directory)
            soft = bool(((gen_set.probs() > 0) & (gen_set.probs() < 1)).any())
            sources.append(ExternalSource(name, directory, AUGDIFF_SET, soft))
        elif _class_dirs(directory):
            sources.append(ExternalSource(name, directory, CLASS_FOLDERS, soft=False))
        else:
            raise AugdiffError(f"{option}: neither an augdiff generated set (no {MANIFEST}) nor class folders; "
                               "expected DIR/<class>/*.png")
    return sources


def plan_sets(recipe_names: list[str] | None, sources: Sequence[ExternalSource]) -> list[recipes.SetPlan]:
    """The generated-image recipes of ``--sets`` (all by default) that apply to each external set, in recipe order."""
    chosen = [recipes.get_recipe(r) for r in (recipe_names or list(recipes.RECIPES))]
    plans = [recipes.SetPlan(r, s.name) for r in chosen for s in sources if r.applies_to(s.plays())]
    for s in sources:
        if not any(p.generator == s.name for p in plans):
            kinds = ("soft-labelled sets take progressive" if s.soft
                     else "one-hot sets take synthetic, mixed, aug-5000")
            raise AugdiffError(f"{s.option}: no recipe of --sets applies to it ({kinds})")
    return plans


def load_sets(
    sources: Sequence[ExternalSource], dataset: Dataset, plans: Sequence[recipes.SetPlan],
    announce: Callable[[str], None] = lambda _msg: None,
) -> dict[str, ExternalSet]:
    """Every external set, read and checked against the data and the recipes that will draw from it."""
    out = {}
    for s in sources:
        gen_set = _read_folders(s, dataset) if s.kind == CLASS_FOLDERS else _read_augdiff(s, dataset)
        _check_counts(s, gen_set, dataset, [p.recipe for p in plans if p.generator == s.name])
        _check_images(s, gen_set, dataset, announce)
        out[s.name] = gen_set
    return out


def _class_dirs(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))


def _read_augdiff(s: ExternalSource, dataset: Dataset) -> ExternalSet:
    base = read_generated_set(s.directory)
    if base.classes != dataset.classes:
        raise AugdiffError(f"{s.option}: its classes {base.classes} differ from {dataset.name}'s {dataset.classes}")
    info = set_info(s.directory) or {}
    made_by = {k: info[k] for k in ("generator", "fit_run", "seed", "n") if info.get(k) is not None}
    return ExternalSet(s.directory, list(dataset.classes), base.records, size=dataset.image_size,
                       source={"made_by": made_by})


def _read_folders(s: ExternalSource, dataset: Dataset) -> ExternalSet:
    by_class: dict[str, list[Path]] = {}
    for folder in _class_dirs(s.directory):
        if folder.name not in dataset.classes:
            raise AugdiffError(f"{s.option}: class folder '{printable(folder.name)}' is not a class of "
                               f"{dataset.name} (its classes: {', '.join(dataset.classes)})")
        by_class[folder.name] = _images_in(folder)
    if not any(by_class.values()):
        raise AugdiffError(f"{s.option}: no images ({', '.join(imageio.IMAGE_EXTS)}) in its class folders")
    eye = np.eye(len(dataset.classes))
    # Classes interleaved, so that a recipe taking the first M images (aug-5000) draws every class alike.
    queues = [[(c, p) for p in by_class.get(cls, [])] for c, cls in enumerate(dataset.classes)]
    records = []
    for rank in range(max(map(len, queues))):
        for queue in queues:
            if rank < len(queue):
                c, path = queue[rank]
                records.append({"file": path.relative_to(s.directory).as_posix(),
                                "probs": dict(zip(dataset.classes, eye[c].tolist(), strict=True)),
                                "generator": s.name, "seed": None})
    return ExternalSet(s.directory, list(dataset.classes), records, size=dataset.image_size, source={})


def _images_in(folder: Path) -> list[Path]:
    found = []
    for top, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(top) / f for f in files if not f.startswith(".") and imageio.is_image_file(Path(f))]
    return sorted(found)


def _check_counts(s: ExternalSource, gen_set: ExternalSet, dataset: Dataset, needs: list[recipes.Recipe]) -> None:
    """The counts ``recipes.build_set`` will ask for, checked now rather than after other sets have trained."""
    real_counts = dataset.train.counts()
    hard = gen_set.probs().argmax(1)
    have = {c: int((hard == i).sum()) for i, c in enumerate(dataset.classes)}
    for recipe in needs:
        need = recipe.generated_total(real_counts)
        if recipe.generated == "per_class":
            per_class = need // len(dataset.classes)
            for cls, n in have.items():
                if n < per_class:
                    raise AugdiffError(f"{s.option}: recipe {recipe.name} needs {per_class} images of class {cls}, "
                                       f"{printable(s.directory)} has {n}")
        elif len(gen_set) < need:
            raise AugdiffError(f"{s.option}: recipe {recipe.name} needs {need} images, "
                               f"{printable(s.directory)} has {len(gen_set)}")


def _check_images(
    s: ExternalSource, gen_set: ExternalSet, dataset: Dataset, announce: Callable[[str], None]
) -> None:
    """Read every image once (an unreadable one is the one-line error naming it), hash its pixels as stored and
    fingerprint the set; record where it came from for the report."""
    log = imageio.ReadLog()
    sizes: Counter[str] = Counter()
    for start in range(0, len(gen_set), _READ_BATCH):
        batch = gen_set.records[start:start + _READ_BATCH]
        paths = [gen_set.directory / r["file"] for r in batch]
        for path in paths:
            if not path.is_file():
                raise AugdiffError(f"{s.option}: {printable(path)} is listed in {MANIFEST} but missing")
        for record, img in zip(batch, imageio.read_images(paths, log), strict=True):
            record["pixels"] = pixel_hash(img)  # as stored (the manifest's, or the first for class folders)
            sizes[f"{img.shape[1]}x{img.shape[0]}"] += 1
    h = hashlib.sha256(json.dumps(gen_set.classes).encode())
    for r in gen_set.records:
        h.update(json.dumps([r["file"], r["pixels"], [r["probs"][c] for c in gen_set.classes]]).encode())
    gen_set.content_key = h.hexdigest()[:16]
    probs = gen_set.probs()
    hard = probs.argmax(1)
    gen_set.source.update({
        "directory": str(gen_set.directory.resolve()), "kind": s.kind, "fingerprint": gen_set.content_key,
        "images": len(gen_set), "distinct": len({r["pixels"] for r in gen_set.records}),
        "per_class": {c: int((hard == i).sum()) for i, c in enumerate(gen_set.classes)},
        "soft": int(((probs > 0) & (probs < 1)).any(1).sum()), "sizes": dict(sizes),
        "fit": "none: made outside this benchmark, so nothing was fitted or sampled",
    })
    notes = log.notes()
    if set(sizes) != {f"{dataset.image_size}x{dataset.image_size}"}:
        notes.append(f"{', '.join(sorted(sizes))} px images resized to {dataset.image_size} px")
    for note in notes:
        announce(f"note: {s.option}: {note}")
