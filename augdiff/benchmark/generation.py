"""The generation-quality section of a benchmark report (the ADD paper's Table 1), from augdiff.metrics.

Each generator's largest generated set (up to 500 images per class, as the paper's §3.2) is compared at the
classifier's input size with two real references, side by side:

- ``train``: the real training split, which the generators fitted on (the reference of earlier reports);
- ``heldout``: real validation + test images that no generator saw, as many per class as the training split has
  (drawn seeded; all of them where there are fewer), so both references have (about) the same size and FID's
  small-sample bias is (about) the same for both.

A generator whose outputs are close reconstructions of its training images (ADD-Pro at low levels) looks better
against ``train`` than against ``heldout``; the paper measured against the full dataset. Against each reference
the *real-vs-real floor* is what the other half of the real data scores (the training split against the held-out
reference and back), computed once; ``ratio`` = floor / value for the Fréchet distances (medigan's FID ratio:
1 = as close to the reference as other real images are). The domain network of ``domain_fd`` is trained on the
reference it measures against, so the held-out column uses no training image at all; its values are comparable
within a column and through the ratio, not across columns.

A set whose records carry ``level_requested`` (ADD-Pro) gets two more rows, its sample split at L ≤ 0.5 and
L > 0.5. Nearest-training-image distances (``memorisation``) and LPIPS diversity are read once, in the ``train``
column. Every result is cached in ``OUT/generation/`` keyed by the images compared, the reference, the metric list
and the seed, so a re-run reuses it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from augdiff import atomic
from augdiff.data.spec import Dataset
from augdiff.generator import GeneratedSet
from augdiff.pictures import resize_images
from augdiff.progress import NullReporter, Reporter
from augdiff.runstore import config_hash
from augdiff.seeding import numpy_rng

# smoke stays CPU-cheap (no Inception); cpu adds the Inception metrics; paper computes the full Table 1 set.
PROFILE_METRICS: dict[str, tuple[str, ...]] = {
    "smoke": ("domain_fd",),
    "cpu": ("fid", "kid", "domain_fd", "memorisation"),
    "paper": ("fid", "kid", "sfid", "lpips_diversity", "domain_fd", "memorisation"),
}
PER_CLASS = 500
DIRECTORY = "generation"
REFERENCES = ("train", "heldout")
REFERENCE_LABELS = {"train": "train", "heldout": "held-out"}
TRAIN_ONLY = ("memorisation", "lpips_diversity")  # nearest *training* image; diversity among generated images only
NET_ON_REFERENCE = ("domain_fd",)  # its feature network is trained on the reference: a floor per reference
RATIO_METRICS = ("fid", "sfid", "domain_fd")  # Fréchet distances: floor / value (KID can be ≤ 0)
LEVEL_SPLIT = 0.5
FLOOR = "real vs real"


def default_metrics(profile: str) -> list[str]:
    return list(PROFILE_METRICS.get(profile, PROFILE_METRICS["cpu"]))


@dataclass
class Reference:
    """Real images a generated set is compared with, their labels (for the domain network) and what they are."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    description: str

    def fingerprint(self) -> str:
        h = hashlib.sha256(repr(self.images.shape).encode())
        h.update(np.ascontiguousarray(self.images).tobytes())
        h.update(np.ascontiguousarray(self.labels, dtype=np.int64).tobytes())
        return h.hexdigest()[:16]

    def record(self, classes: list[str]) -> dict[str, Any]:
        return {"description": self.description, "n": len(self.images),
                "per_class": {c: int((self.labels == i).sum()) for i, c in enumerate(classes)}}


def references(dataset: Dataset, seed: int) -> dict[str, Reference]:
    """The training split, and a held-out reference of validation + test images the size of it per class."""
    train = dataset.train
    pool_images = np.concatenate([dataset.val.images, dataset.test.images])
    pool_labels = np.concatenate([dataset.val.labels, dataset.test.labels])
    rng = numpy_rng(seed, "generation-heldout-reference")
    picks = [rng.permutation(np.flatnonzero(pool_labels == c))[: int((train.labels == c).sum())]
             for c in range(len(dataset.classes))]
    index = np.sort(np.concatenate(picks))
    return {
        "train": Reference("train", train.images, train.labels, "the real training split, the generators' data"),
        "heldout": Reference("heldout", pool_images[index], pool_labels[index],
                             f"real validation + test images no generator saw ({len(index)} of {len(pool_images)}, "
                             "as many per class as the training split where there are enough, drawn seeded)"),
    }


def _sample(generated: GeneratedSet, classes: list[str], per_class: int, seed: int) -> np.ndarray:
    hard = generated.probs().argmax(1)
    rng = numpy_rng(seed, "generation-metrics")
    picks = [rng.permutation(np.flatnonzero(hard == c))[:per_class] for c in range(len(classes))]
    return np.sort(np.concatenate(picks))


def level_groups(generated: GeneratedSet, index: np.ndarray) -> dict[str, np.ndarray]:
    """``index`` split by requested level (L ≤ 0.5, L > 0.5) when the set's records carry one, else nothing."""
    levels = [generated.records[i].get("level_requested") for i in index]
    if all(v is None for v in levels):
        return {}
    lv = np.array([np.nan if v is None else float(v) for v in levels])
    groups = {f"L ≤ {LEVEL_SPLIT:g}": index[lv <= LEVEL_SPLIT], f"L > {LEVEL_SPLIT:g}": index[lv > LEVEL_SPLIT]}
    return {name: part for name, part in groups.items() if len(part) >= 2}  # a distance needs two images


def _cached(path: Path, key: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = {}
    if isinstance(cached, dict) and cached.get("key") == key:
        return cached["metrics"]
    found = compute()
    atomic.write_json(path, {"key": key, "metrics": found})
    return found


def _ratios(values: dict[str, Any], floor: dict[str, Any]) -> dict[str, float]:
    out = {}
    for m in RATIO_METRICS:
        value, base = (values.get(m) or {}).get("value"), (floor.get(m) or {}).get("value")
        if value is not None and base is not None and value > 0:
            out[m] = base / value
    return out


def generation_quality(
    generated: dict[str, GeneratedSet],
    dataset: Dataset,
    metrics: list[str],
    out: Path,
    *,
    seed: int,
    progress: Reporter = NullReporter(),
    device: str = "cpu",
) -> dict[str, Any]:
    """The section: ``references``, the real-vs-real ``floor`` per reference, and ``rows`` (one per generator, two
    more per progressive set), each with its metrics against every reference and the ratios to the floor."""
    from augdiff import metrics as metrics_mod  # deferred: metrics import Inception helpers

    if not metrics:
        return {}
    folder = out / DIRECTORY
    refs = references(dataset, seed)
    distances = [m for m in metrics if m not in TRAIN_ONLY]  # what a reference changes

    def generated_images(gen_set: GeneratedSet, index: np.ndarray) -> np.ndarray:
        return resize_images(gen_set.images(index), dataset.image_size)

    def evaluate(real: Reference, fake: Callable[[], np.ndarray], names: list[str], out_dir: Path | None,
                 ) -> dict[str, Any]:
        return metrics_mod.evaluate_images(
            real.images, fake(), metrics=names, seed=seed, device=device, real_labels=real.labels,
            cache_dir=folder / "cache",
            out_dir=out_dir, cache_fake=True,  # one generated sample, two references: its features once
        )

    floor: dict[str, dict[str, Any]] = {"train": {}, "heldout": {}}
    if distances:
        train, held = refs["train"], refs["heldout"]
        with progress.task("generation metrics: real vs real", None):
            floor["train"] = _cached(
                folder / "_floor.json", config_hash("floor", train.fingerprint(), held.fingerprint(), distances, seed),
                lambda: evaluate(train, lambda: held.images, distances, None))
            # Inception features do not depend on the reference: their floor is the same pair of halves. The domain
            # network does, so its floor is read again with the held-out network.
            own = [m for m in distances if m in NET_ON_REFERENCE]
            again = _cached(
                folder / "_floor.heldout.json", config_hash("floor", held.fingerprint(), train.fingerprint(), own, seed),
                lambda: evaluate(held, lambda: train.images, own, None)) if own else {}
            floor["heldout"] = {m: again.get(m, floor["train"][m]) for m in distances}

    rows: dict[str, dict[str, Any]] = {}
    for name, gen_set in sorted(generated.items()):
        index = _sample(gen_set, dataset.classes, PER_CLASS, seed)
        parts: list[tuple[str, str | None, np.ndarray]] = [(name, None, index)]
        parts += [(f"{name} ({group})", group, part) for group, part in level_groups(gen_set, index).items()]
        for row_name, group, part in parts:
            stem = name if group is None else f"{name}.{_slug(group)}"
            where = (str(gen_set.directory.resolve()), len(gen_set), part.tolist())
            if gen_set.content_key:  # a --generated folder may change in place: key its results by its images
                where += (gen_set.content_key,)
            # Images are read only when a result is not cached.
            fake = functools.cache(functools.partial(generated_images, gen_set, part))
            with progress.task(f"generation metrics: {row_name}", None):
                # The training-split column keeps the key and file of reports before the held-out reference.
                found = {"train": _cached(
                    folder / f"{stem}.json", config_hash(*where, metrics, dataset.train.fingerprint(), seed),
                    functools.partial(evaluate, refs["train"], fake, metrics, folder / stem))}
                found["heldout"] = _cached(
                    folder / f"{stem}.heldout.json",
                    config_hash(*where, distances, refs["heldout"].fingerprint(), seed),
                    functools.partial(evaluate, refs["heldout"], fake, distances, None)) if distances else {}
            rows[row_name] = {"generator": name, "levels": group, "n": len(part), **found,
                              "ratio": {r: _ratios(found[r], floor[r]) for r in REFERENCES}}
    return {"metrics": list(metrics), "per_class": PER_CLASS,
            "references": {r: refs[r].record(dataset.classes) for r in REFERENCES},
            "floor": floor, "rows": rows}


def _slug(group: str) -> str:
    return group.replace(" ≤ ", "-le-").replace(" > ", "-gt-").replace(" ", "")


def _cell(result: dict[str, Any] | None, ratio: float | None = None) -> str:
    if result is None:
        return "—"
    if "unavailable" in result:
        return "n/a"
    value = result.get("value")
    if value is None:
        return "—"
    text = f"{value:.4g}" if "std" not in result else f"{value:.4g} ± {result['std']:.2g}"
    return text if ratio is None else f"{text} ({ratio:.2g})"


def _columns(metrics: list[str]) -> list[tuple[str, str]]:
    """(metric, reference) per column: two per distance, one (train) for memorisation and diversity."""
    return [(m, r) for m in metrics for r in (("train",) if m in TRAIN_ONLY else REFERENCES)]


def markdown(section: dict[str, Any]) -> list[str]:
    """A Table-1 style block: the floor, then one row per generator (and level group), each metric against the
    training split and the held-out images side by side; then what was unavailable and why."""
    if not section or not section.get("rows"):
        return []
    metrics, refs = section["metrics"], section["references"]
    columns = _columns(metrics)
    header = [f"{m} ({REFERENCE_LABELS[r]})" if m not in TRAIN_ONLY else m for m, r in columns]
    lines = ["## Generation quality (ADD Table 1 protocol)", "",
             "| Generated set | images | " + " | ".join(header) + " |", "|---|---|" + "---|" * len(columns)]
    floor = section["floor"]
    if any(floor.values()):
        n_floor = f"{refs['heldout']['n']} ↔ {refs['train']['n']}"
        lines.append(f"| *{FLOOR}* | {n_floor} | "
                     + " | ".join(_cell(floor[r].get(m)) if m not in TRAIN_ONLY else "—" for m, r in columns) + " |")
    unavailable: dict[str, str] = {}
    for row_name, row in section["rows"].items():
        cells = [_cell(row[r].get(m), row["ratio"][r].get(m)) for m, r in columns]
        lines.append(f"| {row_name} | {row['n']} | " + " | ".join(cells) + " |")
        for r in REFERENCES:
            unavailable.update({m: res["unavailable"] for m, res in row[r].items() if "unavailable" in res})
    train, held = refs["train"], refs["heldout"]
    lines += ["", f"Up to {section['per_class']} generated images per class. References: *train* = "
              f"{train['description']} ({train['n']} images); *held-out* = {held['description']}. "
              f"*{FLOOR}*: the held-out images against the training split and back (the floor a generator would "
              "reach if its images were as close to the reference as other real images are). In brackets: floor / "
              "value for the Fréchet distances, as medigan's FID ratio (1 = as close as real data; lower = farther). "
              "A set much closer to *train* than to *held-out*, beyond the floor, reproduces its training images. "
              f"Rows `… (L ≤ {LEVEL_SPLIT:g})` / `… (L > {LEVEL_SPLIT:g})` split a progressive set's sample by "
              "requested level. FID/sFID/domain distance/KID: lower is better, LPIPS diversity: higher is better; "
              "memorisation: share of near-copies of a training image. `domain_fd` uses a classifier trained on "
              "each reference (so its columns compare through the ratio only) and is not comparable to published "
              "FID. See docs/metrics.md and docs/benchmark.md."]
    lines += [f"- {m}: unavailable — {why}" for m, why in unavailable.items()]
    return [*lines, ""]
