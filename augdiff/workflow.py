"""Library entry points behind ``augdiff fit``, ``augdiff augment`` and ``augdiff evaluate --generator``.

Each takes a :class:`~augdiff.plan.GeneratorPlan` (the generator, its validated configs, its data and its fit id,
resolved once by :mod:`augdiff.plan`). The fit of a generator lives at a deterministic run id (profile, seed,
config and data fingerprint), so running the same ``fit`` again resumes it from its last checkpoint instead of
starting over. A new fit made while other fits of the generator exist says why they were not reused
(:meth:`~augdiff.plan.GeneratorPlan.refit_note`).

Under torchrun, :func:`fit` of a generator built on the shared trainer (``distributed_fit = True``) splits its
training over the processes: rank 0 alone opens the run (its lock and run.json) and writes the model, the trainer
writes checkpoints from rank 0 only, and the other ranks wait for it. Everything else refuses torchrun in one line.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from augdiff import locks, plugins
from augdiff.devices import device_type
from augdiff.errors import AugdiffError
from augdiff.generated_set import (
    GeneratedSet,
    check_output,
    read_generated_set,
    set_info,
    set_lock,
    write_chunked,
)
from augdiff.plan import MODEL_DIR, GeneratorPlan
from augdiff.progress import NullReporter, Reporter, note
from augdiff.runstore import Run, config_hash, start_run
from augdiff.seeding import derive_seed, seed_everything
from augdiff.training import distributed

if TYPE_CHECKING:
    from augdiff.generator import Generator
    from augdiff.metrics.evaluate import EvaluationReport

__all__ = ["MODEL_DIR", "AugmentResult", "FitResult", "augment", "evaluate", "fit", "refuse_torchrun", "set_done",
           "set_request", "torchrun_generators"]


@dataclass
class FitResult:
    fitted: str  # the generator that was fitted (add-pro fits as add)
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
    fit_seconds: float = 0.0  # wall time of the fit this call made first (0 when it reused one)


def fit(plan: GeneratorPlan, *, progress: Reporter = NullReporter()) -> FitResult:
    """Fit the plan's generator on its training split (resuming an interrupted fit), save it, record the run.

    A finished fit with the same id is reused without reading it: :meth:`GeneratorPlan.model` reads it when needed.
    Under torchrun (WORLD_SIZE > 1) the processes fit together, rank 0 writing (see the module's docstring).
    """
    if distributed.launched().enabled:
        return _fit_ranks(plan, progress)
    if plan.fit_complete():
        return FitResult(plan.fit_cls.name, plan.fit_dir, plan.data.fingerprint, reused=True)
    model = plan.new_fit_model()
    with _open_fit(plan, model) as run:
        model.fit(plan.data.dataset.train, run.directory / "work", seed=plan.seed, progress=progress)
        model.save(run.directory / MODEL_DIR)
    plan.adopt(model)
    return FitResult(plan.fit_cls.name, plan.fit_dir, plan.data.fingerprint, reused=False)


@contextlib.contextmanager
def _open_fit(plan: GeneratorPlan, model: Generator) -> Iterator[Run]:
    """Say why a new fit starts and what the loader changed, then hold the fit's run (lock, run.json) open."""
    refit = plan.refit_note()
    if refit:
        note(refit)
    plan.run.announce_notes(plan.data)  # what the loader changed in the images this fit trains on
    ds = plan.data.dataset
    seed_everything(plan.seed)
    with start_run(
        plan.run.root, dataset=plan.run.data, generator=plan.fit_cls.name, command="fit", config=model.config,
        seed=plan.seed, data_fingerprint=plan.data.fingerprint, run_id=plan.fit_run_id,
    ) as run:
        run.update(profile=plan.profile, data_options=plan.run.options.record(), classes=ds.classes,
                   train_counts=ds.train.counts())
        yield run


def torchrun_generators() -> list[str]:
    """The installed generators whose fit splits over torchrun's processes (built on the shared trainer)."""
    return [name for name in plugins.generators() if getattr(plugins.get_generator(name), "distributed_fit", False)]


def refuse_torchrun(what: str) -> None:
    """A one-line error when ``what`` (e.g. "augdiff augment") was started by torchrun with several processes."""
    if distributed.launched().enabled:
        distributed.refuse_torchrun(what, torchrun_generators())


def _fit_ranks(plan: GeneratorPlan, progress: Reporter) -> FitResult:
    """The fit under torchrun: every rank trains (the trainer's DDP), rank 0 alone writes the run and the model.

    Rank 0 decides whether the fit is finished and whether its run could be opened, and tells the others, so every
    rank takes the same path; the others then wait at a barrier until rank 0 has recorded the run complete.
    """
    if not getattr(plan.fit_cls, "distributed_fit", False):
        names = ", ".join(torchrun_generators()) or "none installed"
        raise AugdiffError(
            f"augdiff fit {plan.fit_cls.name}: this generator trains in one process and would not share the work "
            f"with torchrun's {distributed.launched().world_size} processes; run it without torchrun (torchrun "
            f"works for: {names})"
        )
    device = str(plan.fit_config.get("device", "auto"))
    if device_type(device) == "cuda" and device not in ("auto", "cuda"):
        raise AugdiffError(f"--device {device} under torchrun: every process would use that one GPU; give "
                           "--device cuda (each process takes cuda:LOCAL_RANK) or use CUDA_VISIBLE_DEVICES")
    info = distributed.setup(device_type(device))
    complete = distributed.broadcast_object(info, plan.fit_complete() if info.is_main else None)
    if complete:
        return FitResult(plan.fit_cls.name, plan.fit_dir, plan.data.fingerprint, reused=True)
    model = plan.new_fit_model()
    with contextlib.ExitStack() as stack:
        error = None
        if info.is_main:
            try:
                stack.enter_context(_open_fit(plan, model))
            except AugdiffError as exc:  # e.g. the run is locked by another process: every rank stops with it
                error = exc
        message = distributed.broadcast_object(info, None if error is None else str(error))
        if error is not None:
            raise error
        if message is not None:
            raise AugdiffError(message)
        if not info.is_main:
            seed_everything(plan.seed)  # as rank 0 did when it opened the run
        # The trainer joins the same process group: DDP averages the gradients, rank 0 writes the checkpoints.
        model.fit(plan.data.dataset.train, plan.fit_dir / "work", seed=plan.seed,
                  progress=progress if info.is_main else NullReporter())
        if info.is_main:
            model.save(plan.fit_dir / MODEL_DIR)
    distributed.barrier(info)  # rank 0 has recorded the run complete: the fit is finished for everyone
    plan.adopt(model)
    return FitResult(plan.fit_cls.name, plan.fit_dir, plan.data.fingerprint, reused=False)


def augment(
    plan: GeneratorPlan,
    *,
    n: int,
    out: Path | None = None,
    force: bool = False,
    cls: str | None = None,
    progress: Reporter = NullReporter(),
) -> AugmentResult:
    """Generate ``n`` images with the plan's fitted generator (fitting it first when no fit exists); write the set.

    Every check that can fail is made before the fit and the sampling start. The set is written chunk by chunk,
    so re-running the same command after a crash resumes from the finished chunks, and re-running it after it
    finished reuses the set.
    """
    refuse_torchrun("augdiff augment")  # N processes would race for one set
    check_request(n, plan.overrides.get("sample_steps"))
    classes = plan.classes
    class_index = None
    if cls is not None:
        if cls not in classes:
            raise AugdiffError(f"--class {cls}: not a class of {plan.run.data}; its classes: {', '.join(classes)}")
        class_index = classes.index(cls)
    request, key = set_request(plan, n, cls)
    out_dir = Path(out) if out is not None else plan.sets_dir(n, key)
    root_option = plan.run.options.root
    mode = check_output(out_dir, key, force=force, protect=[root_option] if root_option else [])
    if mode == "reuse":
        generated = read_generated_set(out_dir)
        return AugmentResult(generated, out_dir, None, _hard_counts(generated.probs(), classes), 0.0, reused=True)

    t0 = time.perf_counter()
    fitted = fit(plan, progress=progress)
    fit_seconds = 0.0 if fitted.reused else time.perf_counter() - t0
    model = plan.model()
    # Another process writing this set: say so now rather than open a run record that would only fail on the lock.
    locks.ensure_free(set_lock(out_dir), f"--out {Path(os.path.abspath(out_dir))}")
    with start_run(
        plan.run.root, dataset=plan.run.data, generator=plan.name, command="augment", config=model.config,
        seed=plan.seed, data_fingerprint=plan.data.fingerprint,
    ) as run:
        chunks = model.plan_chunks(n, cls=class_index, seed=derive_seed(plan.seed, "generate"))
        generated, resumed = write_chunked(
            out_dir, key=key, request=request, chunks=chunks,
            make=lambda chunk: model.generate_chunk(chunk, progress=progress),
            classes=model.classes, generator=plan.name, seed=plan.seed, chunk_files=model.extra_files,
            summary_files=model.summary_files, progress=progress,
        )
        counts = _hard_counts(generated.probs(), model.classes)
        run.update(n=n, out=str(out_dir), fit_run=str(plan.fit_dir), counts=counts, chunks=len(chunks),
                   resumed_chunks=resumed)
    return AugmentResult(generated, out_dir, run.directory, counts, float(run.record.get("seconds", 0.0)),
                         resumed_chunks=resumed, fit_seconds=fit_seconds)


def set_request(plan: GeneratorPlan, n: int, cls: str | None = None) -> tuple[dict[str, Any], str]:
    """What identifies a generated set (fit, sampling config, N, class, seed) and its key: equal keys, same set."""
    request = {"generator": plan.name, "fit_run": plan.fit_run_id, "config": plan.sampling_identity, "n": n,
               "class": cls, "seed": plan.seed}
    return request, config_hash(request)


def set_done(plan: GeneratorPlan, n: int) -> bool:
    """Whether the set ``augment(plan, n=n)`` writes to the runs folder is already there, finished."""
    _, key = set_request(plan, n)
    info = set_info(plan.sets_dir(n, key))
    return info is not None and info.get("key") == key


def check_request(n: int, sample_steps: Any = None) -> None:
    """The checks of a generation request that need no data: callers make them before loading anything."""
    if n <= 0:
        raise AugdiffError(f"--n {n}: the number of images must be positive")
    if isinstance(sample_steps, int) and not isinstance(sample_steps, bool) and sample_steps < 1:
        raise AugdiffError(f"--steps {sample_steps}: sampling needs at least one step")


def evaluate(
    plan: GeneratorPlan,
    *,
    n: int | None = None,
    metrics: Sequence[str] | None = None,
    progress: Reporter = NullReporter(),
    **options: Any,
) -> EvaluationReport:
    """Generate ``n`` images (default: 500 per class, fitting first if needed) and compare them with the
    training split the generator saw; ``options`` are those of :func:`augdiff.metrics.evaluate_generator`."""
    from augdiff.metrics.evaluate import PER_CLASS_DEFAULT, evaluate_generator, resolve_metrics

    names = resolve_metrics(metrics)  # a typo fails before generating
    n = n if n is not None else PER_CLASS_DEFAULT * len(plan.classes)
    result = augment(plan, n=n, progress=progress)
    return evaluate_generator(plan, result.generated, metrics=names, progress=progress, **options)


def _hard_counts(probs: np.ndarray, classes: list[str]) -> dict[str, int]:
    """Images per class by arg-max of the (possibly soft) label."""
    hard = np.argmax(probs, axis=1)
    return {c: int((hard == i).sum()) for i, c in enumerate(classes)}
