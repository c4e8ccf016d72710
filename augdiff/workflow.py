"""Library entry points behind ``augdiff fit`` and ``augdiff augment``: load data, fit or reuse, generate, record.

The fit of a generator lives at a deterministic run id (profile, seed, config and data fingerprint), so running
the same ``fit`` again resumes it from its last checkpoint instead of starting over.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from augdiff import plugins
from augdiff.data import load_dataset
from augdiff.data.spec import DataOptions, Dataset
from augdiff.errors import AugdiffError
from augdiff.generated_set import GeneratedSet, check_output, read_generated_set, write_chunked
from augdiff.generator import Generator
from augdiff.progress import NullReporter, Reporter
from augdiff.runstore import config_hash, find_runs, runs_root, start_run
from augdiff.seeding import derive_seed, seed_everything

MODEL_DIR = "model"


@dataclass
class FitResult:
    generator: Generator
    run_dir: Path
    data_fingerprint: str
    reused: bool


@dataclass
class AugmentResult:
    generated: GeneratedSet
    out_dir: Path
    run_dir: Path | None  # None when an identical, finished set was reused
    counts: dict[str, int]
    seconds: float
    reused: bool = False
    resumed_chunks: int = 0


def load_data_for(
    gen_cls: type[Generator], config: dict[str, Any], data: str, options: DataOptions
) -> Dataset:
    """Load ``data``, resized to the generator's image size unless the user chose ``--size``."""
    if options.size is None and config.get("image_size"):
        options = DataOptions(**{**options.__dict__, "size": int(config["image_size"])})
    return load_dataset(data, options)


def _fit_run_id(profile: str, seed: int, config: dict[str, Any], fingerprint: str) -> str:
    return f"fit-{profile}-s{seed}-{config_hash(config, fingerprint)}"


def fit(
    generator: str,
    data: str,
    options: DataOptions,
    *,
    profile: str,
    seed: int,
    runs_dir: Path | None = None,
    overrides: dict[str, Any] | None = None,
    progress: Reporter = NullReporter(),
    dataset: Dataset | None = None,
) -> FitResult:
    """Fit ``generator`` on the training split (resuming an interrupted fit), save it, and record the run."""
    fit_cls = plugins.get_generator(plugins.get_generator(generator).fitted_under())
    config = fit_cls.from_profile(profile, [], _fit_overrides(fit_cls, overrides)).config
    ds = dataset or load_data_for(fit_cls, config, data, options)
    model = fit_cls(config, ds.classes)
    fingerprint = ds.fingerprint()
    root = runs_root(runs_dir)
    run_id = _fit_run_id(profile, seed, model.fit_config(), fingerprint)
    run_dir = root / data / fit_cls.name / run_id
    if (run_dir / MODEL_DIR).is_dir() and any(
        r.directory == run_dir for r in find_runs(root, data, fit_cls.name, status="complete")
    ):
        return FitResult(fit_cls.load(run_dir / MODEL_DIR), run_dir, fingerprint, reused=True)
    seed_everything(seed)
    with start_run(
        root, dataset=data, generator=fit_cls.name, command="fit", config=model.config, seed=seed,
        data_fingerprint=fingerprint, run_id=run_id,
    ) as run:
        run.update(profile=profile, data_options=options.record(), classes=ds.classes,
                   train_counts=ds.train.counts())
        model.fit(ds.train, run.directory / "work", seed=seed, progress=progress)
        model.save(run.directory / MODEL_DIR)
    return FitResult(model, run_dir, fingerprint, reused=False)


def augment(
    generator: str,
    data: str,
    options: DataOptions,
    *,
    n: int,
    out: Path | None = None,
    force: bool = False,
    profile: str,
    seed: int,
    runs_dir: Path | None = None,
    cls: str | None = None,
    overrides: dict[str, Any] | None = None,
    progress: Reporter = NullReporter(),
) -> AugmentResult:
    """Generate ``n`` images with a fitted generator (fitting it first when no fit exists) and write the set.

    Every check that can fail is made before the fit and the sampling start. The set is written chunk by chunk,
    so re-running the same command after a crash resumes from the finished chunks, and re-running it after it
    finished reuses the set.
    """
    if n <= 0:
        raise AugdiffError(f"--n {n}: the number of images must be positive")
    overrides = dict(overrides or {})
    steps = overrides.get("sample_steps")
    if isinstance(steps, int) and not isinstance(steps, bool) and steps < 1:
        raise AugdiffError(f"--steps {steps}: sampling needs at least one step")
    gen_cls = plugins.get_generator(generator)
    fit_cls = plugins.get_generator(gen_cls.fitted_under())
    fit_config = fit_cls.from_profile(profile, [], _fit_overrides(fit_cls, overrides)).config
    ds = load_data_for(fit_cls, fit_config, data, options)
    class_index = None
    if cls is not None:
        if cls not in ds.classes:
            raise AugdiffError(f"--class {cls}: not a class of {data}; its classes: {', '.join(ds.classes)}")
        class_index = ds.classes.index(cls)
    # The generating config, checked in full now rather than after a fit of up to an hour.
    sampling_config = gen_cls.from_profile(profile, ds.classes, overrides).config
    fingerprint = ds.fingerprint()
    fit_run_id = _fit_run_id(profile, seed, fit_cls(fit_config, ds.classes).fit_config(), fingerprint)
    request = {"generator": generator, "fit_run": fit_run_id, "config": sampling_config, "n": n,
               "class": cls, "seed": seed}
    key = config_hash(request)
    root = runs_root(runs_dir)
    out_dir = Path(out) if out is not None else generated_set_dir(root, data, generator, fit_run_id, n, key)
    mode = check_output(out_dir, key, force=force, protect=[options.root] if options.root else [])
    if mode == "reuse":
        generated = read_generated_set(out_dir)
        return AugmentResult(generated, out_dir, None, _hard_counts(generated.probs(), ds.classes), 0.0,
                             reused=True)

    fitted = fit(generator, data, options, profile=profile, seed=seed, runs_dir=runs_dir,
                 overrides=overrides, progress=progress, dataset=ds)
    # A derived generator (add-pro) wraps its parent's fitted state with its own generation behaviour.
    model = fitted.generator if gen_cls is type(fitted.generator) else gen_cls.load(fitted.run_dir / MODEL_DIR)
    model.config.update(sampling_config)
    with start_run(
        root, dataset=data, generator=generator, command="augment", config=model.config, seed=seed,
        data_fingerprint=fitted.data_fingerprint,
    ) as run:
        chunks = model.plan_chunks(n, cls=class_index, seed=derive_seed(seed, "generate"))
        generated, resumed = write_chunked(
            out_dir, key=key, request=request, chunks=chunks,
            make=lambda chunk: model.generate_chunk(chunk, progress=progress),
            classes=model.classes, generator=generator, seed=seed, chunk_files=model.extra_files,
            summary_files=model.summary_files, progress=progress,
        )
        counts = _hard_counts(generated.probs(), model.classes)
        run.update(n=n, out=str(out_dir), fit_run=str(fitted.run_dir), counts=counts, chunks=len(chunks),
                   resumed_chunks=resumed)
    return AugmentResult(generated, out_dir, run.directory, counts, float(run.record.get("seconds", 0.0)),
                         resumed_chunks=resumed)


def generated_set_dir(root: Path, data: str, generator: str, fit_run_id: str, n: int, key: str) -> Path:
    """Where a set lives when no ``--out`` is given: ``RUNS/<data>/<generator>/sets/<fit run>-n<N>-<request>``."""
    return root / data / generator / "sets" / f"{fit_run_id}-n{n}-{key}"


def _hard_counts(probs: np.ndarray, classes: list[str]) -> dict[str, int]:
    """Images per class by arg-max of the (possibly soft) label."""
    hard = np.argmax(probs, axis=1)
    return {c: int((hard == i).sum()) for i, c in enumerate(classes)}


def _fit_overrides(fit_cls: type[Generator], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Sampling-only options (e.g. ``sample_steps``) never change which fit is used."""
    return {k: v for k, v in (overrides or {}).items() if k not in fit_cls.sampling_options}
