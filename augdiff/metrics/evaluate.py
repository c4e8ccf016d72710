"""Run the metrics: on two image arrays (the library entry point), on a generator, or on two image folders."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from augdiff import atomic
from augdiff.errors import AugdiffError
from augdiff.generator import MANIFEST, GeneratedSet, read_generated_set
from augdiff.metrics import builtin  # noqa: F401  (registers the built-in metrics)
from augdiff.metrics.context import EvalContext, EvalOptions, images_digest
from augdiff.metrics.registry import METRICS, MetricUnavailable
from augdiff.progress import NullReporter, Reporter
from augdiff.runstore import runs_root, start_run
from augdiff.seeding import numpy_rng

if TYPE_CHECKING:
    from augdiff.plan import GeneratorPlan

DEFAULT_METRICS = ("fid", "kid", "sfid", "lpips_diversity", "domain_fd", "memorisation")
PER_CLASS_DEFAULT = 500  # ADD §3.2: "randomly generate 500 pseudo samples in each category"
REPORT_FILE = "metrics.json"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}


def resolve_metrics(metrics: Sequence[str] | None) -> list[str]:
    names = list(metrics) if metrics else list(DEFAULT_METRICS)
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise AugdiffError(f"--metrics {','.join(unknown)}: unknown metric; choose from {', '.join(METRICS)}")
    return list(dict.fromkeys(names))


def evaluate_images(
    real: np.ndarray,
    fake: np.ndarray,
    *,
    metrics: Sequence[str] | None = None,
    seed: int = 0,
    device: str = "cpu",
    **kw: Any,
) -> dict[str, dict[str, Any]]:
    """Compare generated images ``fake`` with real images ``real`` (both uint8 NHWC) on the chosen metrics.

    Returns ``{metric: result}``; a result holds ``value`` (and e.g. ``std``), ``n_real``/``n_fake``, ``method``
    and ``warnings``, or ``{"unavailable": reason}`` when the metric cannot be computed here. Keyword options are
    the fields of :class:`EvalOptions` (``real_labels``, ``inception``, ``cache_dir``, ``out_dir``, ...).
    """
    names = resolve_metrics(metrics)
    ctx = EvalContext(real, fake, seed=seed, device=device, options=EvalOptions.from_kwargs(kw))
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        t0 = time.perf_counter()
        try:
            result = METRICS[name].compute(ctx)
        except MetricUnavailable as exc:
            result = {"unavailable": str(exc), **ctx.counts}
        result["seconds"] = round(time.perf_counter() - t0, 2)
        results[name] = result
    return results


@dataclass
class EvaluationReport:
    metrics: dict[str, dict[str, Any]]
    n_real: int
    n_fake: int
    run_dir: Path
    source: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {**self.source, "n_real": self.n_real, "n_fake": self.n_fake, "run_dir": str(self.run_dir),
                "metrics": self.metrics}


def _subsample(images: np.ndarray, labels: np.ndarray | None, n: int | None, seed: int, key: str):  # type: ignore[no-untyped-def]
    if n is None or n >= len(images):
        return images, labels
    if n < 2:
        raise AugdiffError(f"--n-real {n}: need at least 2 real images")
    keep = np.sort(numpy_rng(seed, "metrics", key).choice(len(images), n, replace=False))
    return images[keep], None if labels is None else labels[keep]


def _run(
    root: Path, dataset: str, generator: str, config: dict[str, Any], seed: int, fingerprint: str,
    real: np.ndarray, fake: np.ndarray, labels: np.ndarray | None, source: dict[str, Any], *,
    metrics: Sequence[str] | None, device: str, progress: Reporter, kw: dict[str, Any],
) -> EvaluationReport:
    names = resolve_metrics(metrics)
    with start_run(root, dataset=dataset, generator=generator, command="evaluate", config=config, seed=seed,
                   data_fingerprint=fingerprint) as run:
        options = {"real_labels": labels, "out_dir": run.directory, "cache_dir": root / dataset / "_metrics-cache",
                   "progress": progress, **kw}
        results = evaluate_images(real, fake, metrics=names, seed=seed, device=device, **options)
        report = EvaluationReport(results, len(real), len(fake), run.directory, source)
        atomic.write_json(run.directory / REPORT_FILE, report.to_dict())
        run.update(n_real=len(real), n_fake=len(fake),
                   summary={k: v.get("value", v.get("unavailable")) for k, v in results.items()})
    return report


def evaluate_generator(
    plan: GeneratorPlan,
    generated: GeneratedSet,
    *,
    n_real: int | None = None,
    metrics: Sequence[str] | None = None,
    device: str = "cpu",
    progress: Reporter = NullReporter(),
    **kw: Any,
) -> EvaluationReport:
    """Compare ``generated`` (made by the plan's generator) with the training split exactly as the generator saw
    it (same crop and size); ``workflow.evaluate`` generates the set and calls this."""
    names = resolve_metrics(metrics)
    ds = plan.data.dataset
    run = plan.run
    real, labels = _subsample(ds.train.images, ds.train.labels, n_real, run.seed, "real")
    source = {"mode": "generator", "generator": plan.name, "data": run.data, "profile": run.profile,
              "seed": run.seed, "samples": str(generated.directory), "classes": ds.classes}
    config_record = {"metrics": names, "n": len(generated), "n_real": n_real, "profile": run.profile,
                     "generator_config": plan.sampling_config, **_plain(kw)}
    return _run(run.root, run.data, plan.name, config_record, run.seed, ds.train.fingerprint(), real,
                generated.images(), labels, source, metrics=names, device=device, progress=progress, kw=kw)


def evaluate_folders(
    real_dir: Path,
    fake_dir: Path,
    *,
    n_real: int | None = None,
    seed: int = 0,
    runs_dir: Path | None = None,
    metrics: Sequence[str] | None = None,
    device: str = "cpu",
    progress: Reporter = NullReporter(),
    **kw: Any,
) -> EvaluationReport:
    """Compare the images under ``fake_dir`` with those under ``real_dir`` (labels from class sub-folders)."""
    real_set, fake_set = load_image_folder(real_dir), load_image_folder(fake_dir)
    real, labels = _subsample(real_set.images, real_set.labels, n_real, seed, "real")
    source = {"mode": "folders", "real": str(real_dir), "fake": str(fake_dir), "seed": seed,
              "classes": real_set.classes}
    config = {"metrics": resolve_metrics(metrics), "real": str(real_dir), "fake": str(fake_dir), "n_real": n_real,
              **_plain(kw)}
    return _run(runs_root(runs_dir), "folders", "evaluate", config, seed, images_digest(real), real,
                fake_set.images, labels, source, metrics=metrics, device=device, progress=progress, kw=kw)


def _plain(kw: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in kw.items() if isinstance(v, (str, int, float, Path))}


# -- image folders --------------------------------------------------------------------------------------------
@dataclass
class ImageFolder:
    images: np.ndarray
    labels: np.ndarray | None
    classes: list[str] | None


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _read_images(files: list[Path]) -> np.ndarray:
    images = []
    for path in files:
        try:
            img = np.asarray(Image.open(path).convert("RGB"))
        except OSError as exc:
            raise AugdiffError(f"{path}: cannot read this image ({exc})") from exc
        if images and img.shape != images[0].shape:
            raise AugdiffError(
                f"{path}: size {img.shape[1]}x{img.shape[0]} differs from {files[0].name} "
                f"({images[0].shape[1]}x{images[0].shape[0]}); resize the folder to one size first"
            )
        images.append(img)
    return np.stack(images)


def load_image_folder(folder: Path) -> ImageFolder:
    """A generated set (``manifest.jsonl``: labels = most probable class), class sub-folders, or loose images."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AugdiffError(f"{folder}: no such folder of images")
    if (folder / MANIFEST).is_file():
        gen = read_generated_set(folder)
        return ImageFolder(_read_images([folder / r["file"] for r in gen.records]), gen.probs().argmax(1),
                           gen.classes)
    class_dirs = sorted(d for d in folder.iterdir() if d.is_dir() and _image_files(d))
    if class_dirs:
        files = [f for d in class_dirs for f in _image_files(d)]
        labels = np.concatenate([np.full(len(_image_files(d)), i, dtype=np.int64) for i, d in enumerate(class_dirs)])
        return ImageFolder(_read_images(files), labels, [d.name for d in class_dirs])
    files = _image_files(folder)
    if not files:
        raise AugdiffError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) here or in sub-folders")
    return ImageFolder(_read_images(files), None, None)
