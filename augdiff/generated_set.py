"""Generated sets on disk, and writing them chunk by chunk so that a long generation survives a crash.

A generated set is ``DIR/images/*.png``, ``DIR/manifest.jsonl`` (one JSON object per image: its file, class
probabilities, generator, seed, a hash of its pixels, and provenance such as the source image and level) and
``DIR/set.json`` (what request made it).

While it is being made the set lives in the hidden sibling ``.DIR.partial/``. Each finished chunk adds its PNGs,
then its manifest rows as ``chunks/NNNNN.jsonl``; that file is written last and atomically, so a chunk counts
only once it is whole. Running the same request again (same ``key`` in ``request.json``) skips the finished
chunks; when all are there the manifest is assembled and the folder renamed to ``DIR`` in one step.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from augdiff import atomic, locks
from augdiff.errors import AugdiffError
from augdiff.progress import NullReporter, Reporter

MANIFEST = "manifest.jsonl"
SET_JSON = "set.json"
REQUEST_JSON = "request.json"
CHUNKS = "chunks"
KIND = "augdiff-generated-set"


@dataclass
class GeneratedSet:
    directory: Path
    classes: list[str]
    records: list[dict[str, Any]]
    # A hash of the images when the folder's path does not identify them (a set made outside augdiff, which its
    # owner may change in place); None for augdiff's own sets, whose folder names carry their request's key.
    content_key: str | None = None

    def __len__(self) -> int:
        return len(self.records)

    def probs(self) -> np.ndarray:
        return np.array([[r["probs"][c] for c in self.classes] for r in self.records], dtype=np.float32)

    def image(self, i: int) -> np.ndarray:
        return np.asarray(Image.open(self.directory / self.records[i]["file"]).convert("RGB"))

    def images(self, index: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """All images, or those at ``index``, as uint8 NHWC."""
        return np.stack([self.image(i) for i in (range(len(self.records)) if index is None else index)])


@dataclass(frozen=True)
class Chunk:
    """One independently reproducible piece of a request: ``n`` images of class ``cls`` (None: any) from ``seed``.

    ``spec`` holds what a generator needs beyond that (e.g. which source images); it must be JSON-serialisable
    because it is part of the request's key.
    """

    index: int
    n: int
    cls: int | None
    seed: int
    spec: dict[str, Any] = field(default_factory=dict)


def pixel_hash(image: np.ndarray) -> str:
    """A content hash of an image's pixels: equal hashes mean identical images (the duplicate check)."""
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()[:16]


def read_generated_set(directory: Path) -> GeneratedSet:
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise AugdiffError(f"{path}: not a generated set (no {MANIFEST}); create one with `augdiff augment`")
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not records:
        raise AugdiffError(f"{path}: the manifest is empty")
    classes = list(records[0]["probs"])
    return GeneratedSet(directory, classes, records)


def set_info(directory: Path) -> dict[str, Any] | None:
    """``set.json`` of an augdiff set (a minimal record for sets written before it existed), else None."""
    directory = Path(directory)
    try:
        info = json.loads((directory / SET_JSON).read_text())
        if isinstance(info, dict) and info.get("kind") == KIND:
            return info
    except (OSError, ValueError):
        pass
    try:
        with open(directory / MANIFEST) as fh:
            first = json.loads(fh.readline())
        if isinstance(first, dict) and {"file", "probs", "generator"} <= set(first):
            return {"kind": KIND, "generator": first["generator"], "key": None}
    except (OSError, ValueError):
        pass
    return None


def set_lock(out: Path) -> Path:
    """The lock file held while the set ``out`` is being written."""
    out = Path(os.path.abspath(out))
    return out.parent / f".{out.name}.lock"


def partial_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.partial"


def _listing(path: Path, limit: int = 3) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_output(out: Path, key: str, *, force: bool = False, protect: Sequence[Path] = ()) -> str:
    """What writing a set to ``out`` will do, decided before any work: ``"new"``, ``"reuse"`` or ``"replace"``.

    Refuses (one-line error) a file, a folder holding anything but an augdiff set, a folder inside or around one
    of ``protect`` (the data root), an unwritable parent, and another augdiff set unless ``force``.
    """
    out = Path(os.path.abspath(out))
    for root in protect:
        root = Path(os.path.abspath(root))
        if out == root or root in out.parents or out in root.parents:
            raise AugdiffError(f"--out {out}: overlaps the data root {root}; write generated sets elsewhere")
    if out.exists() and not out.is_dir():
        raise AugdiffError(f"--out {out}: is a file, not a folder; give a new or empty folder")
    parent = next(p for p in (out, *out.parents) if p.exists())
    if not os.access(parent, os.W_OK | os.X_OK):
        raise AugdiffError(f"--out {out}: cannot write in {parent} (permission denied); choose another folder")
    if not out.exists() or not any(out.iterdir()):
        return "new"
    info = set_info(out)
    if info is None:
        raise AugdiffError(
            f"--out {out}: exists and is not an augdiff generated set (it holds {_listing(out)}); "
            "choose a new or empty folder"
        )
    if info.get("key") == key and not force:
        return "reuse"
    if force:
        return "replace"
    raise AugdiffError(
        f"--out {out}: holds another augdiff set (generator {info.get('generator')}, {info.get('n', '?')} "
        "images); pass --force to replace it, or choose another folder"
    )


def _record(image: np.ndarray, prob: np.ndarray, meta: dict[str, Any], *, name: str, classes: Sequence[str],
            generator: str, seed: int) -> dict[str, Any]:
    return {"file": name, "probs": {c: round(float(p), 6) for c, p in zip(classes, prob, strict=True)},
            "generator": generator, "seed": seed, "pixels": pixel_hash(image), **meta}


def _write_files(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        if root.resolve() not in path.resolve().parents:
            raise ValueError(f"generator file name {name!r} points outside the set folder")
        atomic.write_bytes(path, data)


def write_chunked(
    out: Path,
    *,
    key: str,
    request: dict[str, Any],
    chunks: Sequence[Chunk],
    make: Callable[[Chunk], Any],
    classes: Sequence[str],
    generator: str,
    seed: int,
    chunk_files: Callable[[Any], dict[str, bytes]] = lambda samples: {},
    summary_files: Callable[[GeneratedSet], dict[str, bytes]] = lambda generated: {},
    progress: Reporter = NullReporter(),
) -> tuple[GeneratedSet, int]:
    """Make every chunk not already finished under ``.out.partial/``, then publish the whole set as ``out``.

    ``make(chunk)`` returns the chunk's :class:`augdiff.generator.Samples` (exactly ``chunk.n`` of them).
    Returns the set and how many chunks were reused from an earlier, interrupted run.
    """
    out = Path(os.path.abspath(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    # Two commands writing one set would interleave chunks: the second is told who holds it.
    with locks.hold(set_lock(out), f"--out {out}"):
        work = partial_dir(out)
        if work.is_dir() and _read_json(work / REQUEST_JSON).get("key") != key:
            shutil.rmtree(work)  # an unfinished set of a different request: ours to discard
        (work / CHUNKS).mkdir(parents=True, exist_ok=True)
        (work / "images").mkdir(exist_ok=True)
        atomic.write_json(work / REQUEST_JSON, {"key": key, **request})
        done = {c.index for c in chunks if _chunk_path(work, c).is_file()}
        offsets = np.cumsum([0, *(c.n for c in chunks)])
        with progress.task(f"{generator}: chunks", len(chunks)) as task:
            task.advance(len(done))
            for chunk, offset in zip(chunks, offsets[:-1], strict=True):
                if chunk.index not in done:
                    samples = make(chunk)
                    if len(samples) != chunk.n:
                        raise RuntimeError(f"{generator} returned {len(samples)} images for a chunk of {chunk.n}")
                    _write_chunk(work, chunk, samples, int(offset), classes=classes, generator=generator,
                                 seed=seed, extra_files=chunk_files(samples))
                    task.advance(1)
        records = [json.loads(line) for c in chunks for line in _chunk_path(work, c).read_text().splitlines()]
        _write_files(work, summary_files(GeneratedSet(work, list(classes), records)))
        atomic.write_text(work / MANIFEST, "".join(json.dumps(r) + "\n" for r in records))
        atomic.write_json(work / SET_JSON, {
            "kind": KIND, "key": key, "generator": generator, "n": len(records),
            "distinct": len({r["pixels"] for r in records}), "classes": list(classes), "seed": seed, **request})
        shutil.rmtree(work / CHUNKS)
        (work / REQUEST_JSON).unlink()
        atomic.replace_dir(work, out)
    return GeneratedSet(out, list(classes), records), len(done)


def _write_chunk(work: Path, chunk: Chunk, samples: Any, offset: int, *, classes: Sequence[str], generator: str,
                 seed: int, extra_files: dict[str, bytes]) -> None:
    """PNGs and extra files first, the chunk's manifest rows last (atomically): a chunk counts once it is whole."""
    rows = []
    for i, (img, prob, meta) in enumerate(zip(samples.images, samples.probs, samples.meta, strict=True)):
        name = f"images/{generator}_{offset + i:06d}.png"
        Image.fromarray(np.ascontiguousarray(img)).save(work / name)
        rows.append(_record(img, prob, meta, name=name, classes=classes, generator=generator, seed=seed))
    _write_files(work, extra_files)
    atomic.write_text(_chunk_path(work, chunk), "".join(json.dumps(r) + "\n" for r in rows))


def _chunk_path(work: Path, chunk: Chunk) -> Path:
    return work / CHUNKS / f"{chunk.index:05d}.jsonl"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


def write_generated_set(
    samples: Any,
    out_dir: Path,
    *,
    classes: Sequence[str],
    generator: str,
    seed: int,
    extra_files: dict[str, bytes] | None = None,
) -> GeneratedSet:
    """Write samples already in memory as one chunk (tests and small sets); replaces an earlier set at ``out_dir``."""
    request = {"n": len(samples), "seed": seed, "source": "in-memory samples"}
    key = hashlib.sha256(json.dumps([generator, request, pixel_hash(samples.images)]).encode()).hexdigest()[:16]
    generated, _ = write_chunked(
        Path(out_dir), key=key, request=request, chunks=[Chunk(0, len(samples), None, seed)],
        make=lambda chunk: samples, classes=classes, generator=generator, seed=seed,
        chunk_files=lambda s: dict(extra_files or {}),
    )
    return generated

