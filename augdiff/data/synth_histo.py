"""``synth-histo``: the built-in dataset, rendered procedurally (see :mod:`augdiff.data.synth_render`).

The images form a fixed population per class, like a folder of real images: ``normal`` patches draw their stage
s from Beta(2, 7) (mostly near 0), ``tumor`` patches from Beta(7, 2) (mostly near 1); the true s is kept in
``Split.stages``. The population is then split exactly like a flat image folder (``train_per_class`` to train,
the rest val:test = 1:2, seeded by ``--seed``), so the seed changes the split, never the tissue.

Rendering is deterministic (one RNG stream per class and block of images) and cached as one ``.npz`` under
``$AUGDIFF_CACHE_DIR/synth-histo`` (default ``~/.cache/augdiff``), keyed by every generation parameter and by
the renderer's source, so a change to the renderer never serves stale pixels.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from augdiff import atomic
from augdiff.data import splits, synth_render, transforms
from augdiff.data.assemble import build_dataset
from augdiff.data.spec import DataOptions, Dataset
from augdiff.seeding import numpy_rng

NAME = "synth-histo"
CLASSES = ["normal", "tumor"]
STAGE_PRIOR = {"normal": (2.0, 7.0), "tumor": (7.0, 2.0)}  # Beta(a, b) per class
NATIVE_SIZE = 64
EVAL_PER_CLASS = 450  # 150 validation + 300 test per class, as in pcam-mini and the ADD protocol
BLOCK = 50  # images per RNG stream and per render call (small blocks stay in CPU cache)
SEED = 0  # the population's seed; --seed only reshuffles the split


def cache_dir() -> Path:
    return Path(os.environ.get("AUGDIFF_CACHE_DIR") or Path.home() / ".cache" / "augdiff") / NAME


def render_size(options: DataOptions) -> int:
    """Render at the requested size when it is larger than native (more detail), else at 64 px and shrink.

    With ``--crop`` the crop is taken from the 64-px native render, so it means the same field of view always.
    """
    if options.crop is None and options.size is not None and options.size > NATIVE_SIZE:
        return options.size
    return NATIVE_SIZE


def _cache_key(per_class: int, size: int) -> str:
    params = repr((CLASSES, STAGE_PRIOR, BLOCK, SEED, per_class, size))
    source = Path(synth_render.__file__).read_bytes()
    return hashlib.sha256(params.encode() + source).hexdigest()[:16]


def _render_block(cls: str, block: int, take: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = numpy_rng(SEED, NAME, cls, block)  # one stream per block: image i never depends on the count
    a, b = STAGE_PRIOR[cls]
    stages = rng.beta(a, b, BLOCK)
    return synth_render.render(stages, rng, size)[:take], stages[:take]


def render_population(per_class: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images uint8 (N, size, size, 3), labels, stages) for ``per_class`` images of each class, class-major.

    Blocks render in threads: numpy releases the GIL in the heavy array work, so this uses every core.
    """
    jobs = [
        (cls, block, min(BLOCK, per_class - block * BLOCK), size)
        for cls in CLASSES
        for block in range(-(-per_class // BLOCK))
    ]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        parts = list(pool.map(lambda job: _render_block(*job), jobs))
    labels = np.concatenate([np.full(job[2], CLASSES.index(job[0]), dtype=np.int64) for job in jobs])
    images = np.concatenate([p[0] for p in parts])
    stages = np.concatenate([p[1] for p in parts]).astype(np.float32)
    return images, labels, stages


def population(per_class: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rendered population, from the cache when present (written atomically on first use)."""
    path = cache_dir() / f"{NAME}-{per_class}x{len(CLASSES)}-{size}px-{_cache_key(per_class, size)}.npz"
    if path.is_file():
        try:
            with np.load(path) as z:
                return z["images"], z["labels"], z["stages"]
        except (OSError, ValueError, KeyError):
            pass  # an unreadable cache file is simply rendered again
    images, labels, stages = render_population(per_class, size)
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, images=images, labels=labels, stages=stages)
    return images, labels, stages


def load(options: DataOptions) -> Dataset:
    transforms.check_options(options)
    per_class = options.train_per_class + EVAL_PER_CLASS
    images, labels, stages = population(per_class, render_size(options))
    ids = [f"{CLASSES[lab]}/{i:05d}" for i, lab in zip(_index_in_class(labels), labels, strict=True)]
    index = splits.split_per_class(labels, CLASSES, options.train_per_class, options.seed, NAME)
    return build_dataset(NAME, CLASSES, images, labels, ids, index, options, [], stages=stages)


def _index_in_class(labels: np.ndarray) -> np.ndarray:
    out = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        pos = np.flatnonzero(labels == c)
        out[pos] = np.arange(len(pos))
    return out
