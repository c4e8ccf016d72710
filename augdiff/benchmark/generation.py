"""The generation-quality section of a benchmark report (the ADD paper's Table 1), from augdiff.metrics.

Each generator's largest generated set is compared with the real training split at the classifier's input size,
using up to 500 images per class as the paper does (§3.2). Results are cached beside the cells, keyed by the
generated set, the real data and the metric list, so a re-run reuses them.
"""

from __future__ import annotations

import json
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


def default_metrics(profile: str) -> list[str]:
    return list(PROFILE_METRICS.get(profile, PROFILE_METRICS["cpu"]))


def _sample(generated: GeneratedSet, classes: list[str], per_class: int, seed: int) -> np.ndarray:
    hard = generated.probs().argmax(1)
    rng = numpy_rng(seed, "generation-metrics")
    picks = [rng.permutation(np.flatnonzero(hard == c))[:per_class] for c in range(len(classes))]
    return np.sort(np.concatenate(picks))


def generation_quality(
    generated: dict[str, GeneratedSet],
    dataset: Dataset,
    metrics: list[str],
    out: Path,
    *,
    seed: int,
    progress: Reporter = NullReporter(),
) -> dict[str, dict[str, Any]]:
    """``{generator: {metric: result}}`` for each generator's set against the real training split."""
    from augdiff.metrics import evaluate_images  # deferred: metrics import Inception helpers

    results: dict[str, dict[str, Any]] = {}
    if not metrics:
        return results
    for name, gen_set in sorted(generated.items()):
        index = _sample(gen_set, dataset.classes, PER_CLASS, seed)
        key = config_hash(str(gen_set.directory.resolve()), len(gen_set), index.tolist(), metrics,
                          dataset.train.fingerprint(), seed)
        path = out / DIRECTORY / f"{name}.json"
        try:
            cached = json.loads(path.read_text())
        except (OSError, ValueError):
            cached = {}
        if cached.get("key") == key:
            results[name] = cached["metrics"]
            continue
        fake = resize_images(gen_set.images(index), dataset.image_size)
        with progress.task(f"generation metrics: {name}", None):
            found = evaluate_images(
                dataset.train.images, fake, metrics=metrics, seed=seed, real_labels=dataset.train.labels,
                cache_dir=out / DIRECTORY / "cache", out_dir=out / DIRECTORY / name,
            )
        atomic.write_json(path, {"key": key, "metrics": found})
        results[name] = found
    return results


def _cell(result: dict[str, Any]) -> str:
    if "unavailable" in result:
        return "n/a"
    value = result.get("value")
    if value is None:
        return "—"
    return f"{value:.4g}" if "std" not in result else f"{value:.4g} ± {result['std']:.2g}"


def markdown(section: dict[str, dict[str, Any]]) -> list[str]:
    """A Table-1 style block: one row per generator, one column per metric, then what was unavailable and why."""
    if not section:
        return []
    metrics = list(next(iter(section.values())))
    lines = ["## Generation quality (ADD Table 1 protocol)", "",
             "| Generator | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    unavailable = {}
    for gen, res in section.items():
        lines.append(f"| {gen} | " + " | ".join(_cell(res[m]) for m in metrics) + " |")
        unavailable.update({m: r["unavailable"] for m, r in res.items() if "unavailable" in r})
    counts = next(iter(section.values()))[metrics[0]]
    lines += ["", f"Up to {PER_CLASS} generated images per class against the real training split "
              f"({counts.get('n_real', '?')} images); FID/sFID/domain distance: lower is better, LPIPS diversity: "
              "higher is better. `domain_fd` uses a classifier trained on this dataset and is not comparable to "
              "published FID. See docs/metrics.md."]
    lines += [f"- {m}: unavailable — {why}" for m, why in unavailable.items()]
    return [*lines, ""]
