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
from augdiff.generator import GeneratedSet, Generator, write_generated_set
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
    run_dir: Path
    counts: dict[str, int]
    seconds: float


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
    profile: str,
    seed: int,
    runs_dir: Path | None = None,
    cls: str | None = None,
    overrides: dict[str, Any] | None = None,
    progress: Reporter = NullReporter(),
) -> AugmentResult:
    """Generate ``n`` images with a fitted generator (fitting it first when no fit exists) and write the set."""
    if n <= 0:
        raise AugdiffError(f"--n {n}: the number of images must be positive")
    gen_cls = plugins.get_generator(generator)
    fit_cls = plugins.get_generator(gen_cls.fitted_under())
    config = fit_cls.from_profile(profile, [], _fit_overrides(fit_cls, overrides)).config
    ds = load_data_for(fit_cls, config, data, options)
    class_index = None
    if cls is not None:
        if cls not in ds.classes:
            raise AugdiffError(f"--class {cls}: not a class of {data}; its classes: {', '.join(ds.classes)}")
        class_index = ds.classes.index(cls)
    fitted = fit(generator, data, options, profile=profile, seed=seed, runs_dir=runs_dir,
                 overrides=overrides, progress=progress, dataset=ds)
    # A derived generator (add-pro) wraps its parent's fitted state with its own generation behaviour.
    model = fitted.generator if gen_cls is type(fitted.generator) else gen_cls.load(fitted.run_dir / MODEL_DIR)
    for key, value in (overrides or {}).items():
        if key not in model.config:
            raise AugdiffError(f"--set {key}: generator '{generator}' has no option '{key}'")
        model.config[key] = value
    root = runs_root(runs_dir)
    with start_run(
        root, dataset=data, generator=generator, command="augment", config=model.config, seed=seed,
        data_fingerprint=fitted.data_fingerprint,
    ) as run:
        samples = model.generate(n, cls=class_index, seed=derive_seed(seed, "generate"), progress=progress)
        out_dir = Path(out) if out is not None else run.directory / "samples"
        extra = getattr(model, "extra_files", lambda s: {})(samples)
        generated = write_generated_set(samples, out_dir, classes=model.classes, generator=generator, seed=seed,
                                        extra_files=extra)
        hard = np.argmax(samples.probs, axis=1)
        counts = {c: int((hard == i).sum()) for i, c in enumerate(model.classes)}
        run.update(n=n, out=str(out_dir), fit_run=str(fitted.run_dir), counts=counts)
    return AugmentResult(generated, out_dir, run.directory, counts, float(run.record.get("seconds", 0.0)))


def _fit_overrides(fit_cls: type[Generator], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Sampling-only options (e.g. ``sample_steps``) never change which fit is used."""
    return {k: v for k, v in (overrides or {}).items() if k not in fit_cls.sampling_options}
