"""Run the comparison: fit/generate what is missing, build every training set, train each with K seeds, report.

A *cell* is one training set trained with one seed. Each finished cell is written to
``OUT/cells/<set>/seed<k>.json`` with a key hashing everything that determines it (classifier recipe, the exact
training set, the validation/test data, the seed, the pretrained file), so an interrupted or repeated benchmark
reuses every finished cell and recomputes only what changed (``force`` recomputes all).

Seed k of every set is the same number, ``derive_seed(seed, "classifier", k)``: sets are compared under identical
initialisation, batch order and augmentation streams, which is what makes the paired differences meaningful.

With ``fit_seeds`` K > 1 every generator row is fitted and sampled K times: fit seed 0 is ``--seed`` itself (the fit
``augdiff fit`` makes, so existing fits and sets are reused), fit seed j > 0 is ``derive_seed(seed, "fit", j)``.
A generated set's cells are then (fit seed j, classifier seed k); those of fit seed j > 0 are written to
``OUT/cells/<set>/fit<j>-seed<k>.json``, and those of fit seed 0 where they always were.

``shard`` "K/N" trains only cell i ≡ K (mod N) of the fixed list of all cells (set, fit seed, classifier seed)
and writes no report; a run without it assembles the report from the cached cells. A shard that finds a fit or a
generated set locked by another shard works on its other sets meanwhile and then polls until the lock is gone
(every ``SHARD_POLL_SECONDS``), so no set is made twice.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from augdiff import atomic, locks, plugins, workflow
from augdiff.benchmark import estimate, external, recipes
from augdiff.benchmark import report as report_mod
from augdiff.benchmark.generation import default_metrics, generation_quality
from augdiff.benchmark.teacher import DEFAULT_TOLERANCE, Teacher, TeacherRule, parse_rule
from augdiff.benchmark.variants import Variant, resolve_entries
from augdiff.classify.models import PretrainedMismatchWarning, build_classifier
from augdiff.classify.train import (
    CLASSIFIER_PROFILES,
    ClassifierConfig,
    copy_config,
    evaluate,
    predict,
    train_classifier,
)
from augdiff.data.spec import DataOptions, Dataset
from augdiff.devices import metrics_device
from augdiff.errors import AugdiffError
from augdiff.generator import GeneratedSet
from augdiff.metrics import artefacts
from augdiff.pictures import resize_images
from augdiff.plan import GeneratorPlan, RunPlan
from augdiff.progress import NullReporter, Reporter
from augdiff.runstore import config_hash, runs_root
from augdiff.seeding import derive_seed

CELLS = "cells"
SHARD_POLL_SECONDS = 10.0  # how often a shard looks again at a fit or set another shard is making
_sleep = time.sleep  # replaced in tests, where "another shard" finishes during the wait


@dataclass
class BenchmarkOptions:
    data: str
    data_options: DataOptions
    profile: str = "cpu"
    classifier: str | None = None  # None: the profile's (vit_base for paper, as in the ADD paper)
    generators: list[str] | None = None  # None: every installed generator
    sets: list[str] | None = None  # None: every applicable recipe
    seeds: int = 3
    seed: int = 0
    steps: int | None = None  # override the profile's optimiser-step budget (still the same for every set)
    pretrained: Path | None = None
    out: Path | None = None
    force: bool = False
    runs_dir: Path | None = None
    metrics: list[str] | None = None  # generation-quality metrics; None: the profile's, []: none
    budget: str = "steps"  # "steps": identical optimiser steps; "epochs": identical passes over the real split
    synthetic_prob: float = 0.5  # epochs budget: chance that a drawn real image is replaced by a generated one
    drop_artefacts: bool = False  # leave out generated images outside the real split's artefact range
    teacher: str | None = None  # "filter" | "relabel": a real-only classifier judges generated labels (teacher.py)
    teacher_tolerance: float = DEFAULT_TOLERANCE  # filter: the largest |label − teacher probability| kept
    generator_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # --set GENERATOR.KEY=VALUE
    variants: list[Variant] = field(default_factory=list)  # --variant NAME=GENERATOR:KEY=VALUE,…
    generated: dict[str, Path] = field(default_factory=dict)  # --generated NAME=DIR: sets made elsewhere
    fit_seeds: int = 1  # fits (and samplings) per generator row
    shard: str | None = None  # "K/N": train only this shard's cells, write no report
    device: str | None = None  # --device: generators, classifier and metrics (None: auto; the metrics on cpu)

    def regime(self) -> dict[str, Any]:
        """What, besides the classifier recipe, decides how every cell trains (part of each cell's key)."""
        prob = self.synthetic_prob if self.budget == "epochs" else None
        regime = {"budget": self.budget, "synthetic_prob": prob, "drop_artefacts": self.drop_artefacts}
        rule = parse_rule(self.teacher, self.teacher_tolerance)
        # Only when set, so cells of benchmarks made before the option existed keep their keys.
        return regime if rule is None else {**regime, "teacher": rule.tag}


BUDGETS = ("steps", "epochs")
DEFAULT_REGIME = {"budget": "steps", "synthetic_prob": None, "drop_artefacts": False}


@dataclass
class Cell:
    set_name: str
    seed_index: int
    result: dict[str, Any]
    reused: bool
    fit_index: int = 0  # the fit seed's index (always 0 for real-only sets)


@dataclass
class BenchmarkResult:
    out_dir: Path
    report: dict[str, Any]
    cells: list[Cell] = field(default_factory=list)

    @property
    def trained(self) -> int:
        return sum(not c.reused for c in self.cells)


def classifier_config(profile: str, classifier: str | None = None, steps: int | None = None) -> ClassifierConfig:
    if profile not in CLASSIFIER_PROFILES:
        raise AugdiffError(f"--profile {profile}: unknown benchmark profile; choose {', '.join(CLASSIFIER_PROFILES)}")
    if steps is not None and steps <= 0:
        raise AugdiffError(f"--steps {steps}: the step budget must be positive")
    config = CLASSIFIER_PROFILES[profile]
    changes: dict[str, Any] = {"classifier": classifier, "steps": steps}
    if steps is not None:  # keep the warm-up and validation cadence proportional to the budget
        changes["warmup_steps"] = round(steps * config.warmup_steps / config.steps)
        changes["eval_every"] = max(1, round(steps * config.eval_every / config.steps)) if config.eval_every else 0
    return copy_config(config, **changes)


def classifier_seeds(seed: int, k: int) -> list[int]:
    return [derive_seed(seed, "classifier", i) % (1 << 31) for i in range(k)]


def _file_digest(path: Path | None) -> str | None:
    if path is None:
        return None
    if not Path(path).is_file():
        raise AugdiffError(f"--pretrained {path}: no such file")
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def default_out(opts: BenchmarkOptions, config: ClassifierConfig) -> Path:
    """Keyed by what every cell shares, so adding generators or seeds later reuses the finished cells."""
    key = config_hash(config.to_dict(), opts.data_options.record(), _file_digest(opts.pretrained))
    return runs_root(opts.runs_dir) / opts.data / "benchmark" / f"{opts.profile}-s{opts.seed}-{key}"


def _resolve_generators(names: list[str] | None) -> list[str]:
    installed = list(plugins.generators())
    if names is None:
        return installed
    for name in names:
        plugins.get_generator(name)  # raises the one-line error naming the known generators
    return list(dict.fromkeys(names))


def _cell_regime(opts: BenchmarkOptions, plan: recipes.SetPlan) -> dict[str, Any] | None:
    """The regime a cell depends on: None for the default one, and for real-only sets (trained alike in every
    regime, so their cells are shared by the benchmarks of all regimes in one output folder)."""
    if plan.generator is None or opts.regime() == DEFAULT_REGIME:
        return None
    return opts.regime()


def _cell_path(
    out: Path, plan: recipes.SetPlan, k: int, regime: dict[str, Any] | None, fit_index: int = 0
) -> Path:
    tag = "" if regime is None else "@" + "-".join(f"{k}={v}" for k, v in regime.items() if v not in (None, False))
    # Fit seed 0 keeps the file name cells had before fit seeds existed, so they are reused.
    name = f"seed{k}.json" if fit_index == 0 else f"fit{fit_index}-seed{k}.json"
    return out / CELLS / f"{plan.slug}{tag}" / name


def fit_seed_values(seed: int, k: int) -> list[int]:
    """Fit seed 0 is ``seed`` itself (the fit ``augdiff fit --seed`` makes, reused); the others are derived."""
    return [seed] + [derive_seed(seed, "fit", j) % (1 << 31) for j in range(1, k)]


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"K/N"`` as (K, N) with 0 ≤ K < N."""
    if text is None:
        return None
    index, sep, count = str(text).partition("/")
    try:
        k, n = int(index), int(count)
    except ValueError:
        k, n = -1, 0
    if not sep or n < 1 or not 0 <= k < n:
        raise AugdiffError(f"--shard {text}: expected K/N with 0 ≤ K < N, e.g. --shard 0/4 … --shard 3/4 (a SLURM "
                           "array: --array=0-3 and --shard $SLURM_ARRAY_TASK_ID/4)")
    return k, n


def _read_cell(path: Path, key: str | None) -> dict[str, Any] | None:
    """The cell at ``path`` when its key is ``key`` (any key when None)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    return record if key is None or record.get("key") == key else None


def calibrate(config: ClassifierConfig, dataset: Dataset, pretrained: Path | None, *, steps: int = 3) -> dict[str, float]:
    """Measure seconds per optimiser step (after one warm-up step) and per validation pass on this machine."""
    build = _builder(config, dataset, pretrained)
    probe = copy_config(config, steps=steps + 1, warmup_steps=0, eval_every=0)
    n = min(len(dataset.train), probe.batch_size * 2)
    images, labels = dataset.train.images[:n], dataset.train.labels[:n]
    one_hot = np.eye(len(dataset.classes), dtype=np.float32)[labels]
    # Eight validation images spread over the (class-sorted) split, so every class is present.
    tiny_val = dataset.val.subset(np.unique(np.linspace(0, len(dataset.val) - 1, 8).astype(int)))
    # Both runs pay the model build and one tiny validation; their difference is ``steps`` optimiser steps.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pretrained-file notes are reported by the caller
        t0 = time.perf_counter()
        train_classifier(build, images, one_hot, tiny_val, copy_config(probe, steps=1), seed=0)
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        outcome = train_classifier(build, images, one_hot, tiny_val, probe, seed=0)
        per_step = max(1e-6, (time.perf_counter() - t0 - warm) / steps)
    t0 = time.perf_counter()
    predict(outcome.model, dataset.val.images, config)
    per_val = time.perf_counter() - t0
    return {"seconds_per_step": per_step, "seconds_per_val": per_val,
            "seconds_per_test": per_val * len(dataset.test) / max(1, len(dataset.val))}


def estimate_seconds(config: ClassifierConfig, cells: int, calibration: dict[str, float]) -> float:
    evals = (config.steps // config.eval_every if config.eval_every else 0) + 1
    per_cell = (config.steps * calibration["seconds_per_step"] + evals * calibration["seconds_per_val"]
                + calibration["seconds_per_test"])
    return cells * per_cell


def _budget_arguments(opts: BenchmarkOptions, training_set: recipes.TrainingSet) -> dict[str, Any]:
    """The epochs budget draws over the real images (a set without real or generated ones trains as usual)."""
    real = training_set.real_mask
    if opts.budget != "epochs" or real.all() or not real.any():
        return {}
    return {"real": real, "synthetic_prob": opts.synthetic_prob}


def artefact_table(generated: dict[str, GeneratedSet], dataset: Dataset) -> dict[str, Any]:
    """Per generated set (and per progression level where it has levels): the share of flagged images."""
    real = dataset.train.images
    out: dict[str, Any] = {"threshold": artefacts.threshold(real),
                           "real_flagged": float(artefacts.flags(real, real).mean()), "sets": {}}
    for name, gen_set in generated.items():
        images = resize_images(gen_set.images(), dataset.image_size)
        flagged = artefacts.flags(images, real)
        levels = [r.get("level_requested") for r in gen_set.records]
        by_level = {}
        if any(v is not None for v in levels):
            lv = np.array([-1.0 if v is None else float(v) for v in levels])
            by_level = {f"{v:g}": float(flagged[lv == v].mean()) for v in sorted(set(lv.tolist())) if v >= 0}
        out["sets"][name] = {"n": len(images), "flagged": float(flagged.mean()), "by_level": by_level}
    return out


def _label_rule(rule: TeacherRule, teacher: Teacher) -> recipes.LabelRule:
    return lambda images, labels: rule.apply(labels, teacher.probs(images))


def _builder(config: ClassifierConfig, dataset: Dataset, pretrained: Path | None) -> Callable[[], Any]:
    size = dataset.image_size
    return lambda: build_classifier(config.classifier, len(dataset.classes), size, pretrained)


@dataclass(frozen=True)
class SetJob:
    """One generated set a benchmark needs: ``n`` images from generator row ``entry`` at fit seed ``fit_index``."""

    entry: str
    fit_index: int
    n: int


def _make_set(
    plan: GeneratorPlan, job: SetJob, parts: dict[str, estimate.Part], progress: Reporter,
    announce: Callable[[str], None],
) -> GeneratedSet:
    """The set of ``job``: read back when it is on disk, else fitted (if needed) and sampled, each part timed."""
    seed_text = f" (fit seed {job.fit_index})" if job.fit_index else ""
    announce(f"generated set: {job.entry} x {job.n}{seed_text} (fit and sample if missing)")
    t0 = time.perf_counter()
    result = workflow.augment(plan, n=job.n, progress=progress)
    if not result.reused:
        parts["fits"].actual += result.fit_seconds
        parts["sampling"].actual += time.perf_counter() - t0 - result.fit_seconds
    return result.generated


def _generate(
    jobs: list[SetJob], plans: dict[tuple[str, int], GeneratorPlan], parts: dict[str, estimate.Part], *,
    wait: bool, progress: Reporter, announce: Callable[[str], None],
) -> dict[SetJob, GeneratedSet]:
    """Every job's set. With ``wait`` (shards) a fit or set locked by another process is left for later: the
    other sets are made meanwhile, then the locked ones are polled until their holder is done (and reused)."""
    generated: dict[SetJob, GeneratedSet] = {}
    pending, told = list(jobs), set()
    while pending:
        deferred = []
        for job in pending:
            try:
                generated[job] = _make_set(plans[(job.entry, job.fit_index)], job, parts, progress, announce)
            except locks.LockHeld as held:
                if not wait:
                    raise
                if held.path not in told:
                    told.add(held.path)
                    announce(f"waiting: {held.what} is being made by {held.who}; polling every "
                             f"{SHARD_POLL_SECONDS:g} s")
                deferred.append(job)
        if deferred and len(deferred) == len(pending):
            _sleep(SHARD_POLL_SECONDS)
        pending = deferred
    return generated


def _set_manifest(out: Path, plan: recipes.SetPlan, fit_index: int) -> Path:
    return out / "sets" / (f"{plan.slug}.jsonl" if fit_index == 0 else f"{plan.slug}-fit{fit_index}.jsonl")


def run_benchmark(
    opts: BenchmarkOptions,
    *,
    progress: Reporter = NullReporter(),
    announce: Callable[[str], None] = lambda _msg: None,
) -> BenchmarkResult:
    """Everything behind ``augdiff benchmark``; returns the report (also written to the output folder).

    With ``opts.shard`` only that shard's cells are trained and the result's report is a summary of them.
    """
    if opts.seeds < 1:
        raise AugdiffError(f"--seeds {opts.seeds}: need at least one seed (3 or more for confidence intervals)")
    if opts.fit_seeds < 1:
        raise AugdiffError(f"--fit-seeds {opts.fit_seeds}: need at least one fit per generator")
    if opts.budget not in BUDGETS:
        raise AugdiffError(f"--budget {opts.budget}: choose one of {', '.join(BUDGETS)}")
    if not 0.0 < opts.synthetic_prob < 1.0:
        raise AugdiffError(f"--synthetic-prob {opts.synthetic_prob}: must lie strictly between 0 and 1")
    shard = parse_shard(opts.shard)
    rule = parse_rule(opts.teacher, opts.teacher_tolerance)
    t_start = time.perf_counter()
    config = classifier_config(opts.profile, opts.classifier, opts.steps)
    if opts.device is not None:  # not part of any key (ClassifierConfig.to_dict): cells are reused across devices
        config = copy_config(config, device=opts.device)
    metrics = default_metrics(opts.profile) if opts.metrics is None else opts.metrics
    if metrics:
        from augdiff.metrics.evaluate import resolve_metrics

        resolve_metrics(metrics)  # a misspelt --metrics fails before any long work
    # Every generator row with its options checked (a bad --set/--variant fails before the data is read).
    # --generated alone fits no generator: the user brought the images (external.py).
    names = opts.generators if opts.generators is not None or not opts.generated else []
    entries = resolve_entries(_resolve_generators(names), opts.variants, opts.generator_options, opts.profile)
    by_name = {e.name: e for e in entries}  # the fitted rows; a --generated row is in ``external_sets``
    sources = external.scan(opts.generated, list(by_name))
    plans = recipes.plan_sets(opts.sets, list(by_name), {e.name: e.generator for e in entries if e.variant})
    plans += external.plan_sets(opts.sets, sources)
    out = Path(opts.out) if opts.out is not None else default_out(opts, config)
    run = RunPlan(opts.data, opts.data_options, opts.profile, opts.seed, opts.runs_dir, opts.device)
    # The real splits at the classifier's input size (``--size`` wins over the profile's).
    loaded = run.load(config.image_size)
    dataset = loaded.dataset
    seeds = classifier_seeds(opts.seed, opts.seeds)
    fit_seeds = fit_seed_values(opts.seed, opts.fit_seeds)
    notes = list(dataset.notes)
    pretrained_digest = _file_digest(opts.pretrained)

    # Build the model once up front: a bad --classifier/--pretrained/--size fails before any long work.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        params = sum(p.numel() for p in _builder(config, dataset, opts.pretrained)().parameters())
    model_notes = [str(w.message) for w in caught if issubclass(w.category, PretrainedMismatchWarning)]
    run.announce_notes(loaded, lambda text: announce(f"note: {text}"))  # a fit at another size adds only new ones
    for note in model_notes:
        announce(f"note: {note}")
    notes += model_notes
    external_sets = external.load_sets(sources, dataset, plans, announce)  # checked before any fit or training

    # Every cell in one fixed order (set, fit seed, classifier seed): shard K of N takes cells i ≡ K (mod N).
    all_cells = [(plan, j, k) for plan in plans for j in range(len(fit_seeds) if plan.generator in by_name else 1)
                 for k in range(len(seeds))]
    mine = all_cells if shard is None else [c for i, c in enumerate(all_cells) if i % shard[1] == shard[0]]

    # Each generator row resolved once per fit seed (configs validated, its data loaded at its own profile's
    # size unless --size was given, its fit named), and the generated sets this run's cells need.
    real_counts = dataset.train.counts()
    generator_plans: dict[tuple[str, int], GeneratorPlan] = {}
    jobs: list[SetJob] = []
    for plan, j, _k in mine:
        if plan.generator not in by_name:
            continue
        if (plan.generator, j) not in generator_plans:
            entry = by_name[plan.generator]
            generator_plans[(plan.generator, j)] = run.generator(entry.generator, entry.overrides, seed=fit_seeds[j])
        job = SetJob(plan.generator, j, plan.recipe.generated_total(real_counts))
        if job not in jobs:
            jobs.append(job)
    if shard is not None and jobs:  # shards start on different sets, so they make them side by side
        turn = shard[0] % len(jobs)
        jobs = jobs[turn:] + jobs[:turn]

    parts = _estimate(opts, config, dataset, out, mine, jobs, generator_plans, announce,
                      {name: s.content_key for name, s in external_sets.items()})
    generated = _generate(jobs, generator_plans, parts, wait=shard is not None, progress=progress,
                          announce=announce)

    sets: dict[tuple[str, int], recipes.TrainingSet] = {}
    set_keys: dict[tuple[str, int], str] = {}
    skipped: set[recipes.SetPlan] = set()
    teacher: Teacher | None = None
    for plan, j in dict.fromkeys((plan, j) for plan, j, _k in mine):
        if plan in skipped:
            continue
        source = (generated[SetJob(plan.generator, j, plan.recipe.generated_total(real_counts))]
                  if plan.generator in by_name else external_sets.get(plan.generator or ""))
        missing = recipes.missing_classes(plan.recipe, source)
        if missing:
            # e.g. `add` with --set add.bidirectional=false migrates normal → tumor only: no normal images.
            note = (f"{plan.name} skipped: {plan.generator} generated no {', '.join(missing)} images "
                    f"(a per-class set needs every class)")
            announce(f"note: {note}")
            notes.append(note)
            skipped.add(plan)
            continue
        if rule is not None and plan.generator and teacher is None:
            teacher = Teacher(_builder(config, dataset, opts.pretrained), dataset, config, seed=opts.seed,
                              folder=out / "teacher", key_parts=(pretrained_digest,))
        label_rule = None if teacher is None or rule is None else _label_rule(rule, teacher)
        training_set = recipes.build_set(plan, dataset.train, source, drop_artefacts=opts.drop_artefacts,
                                         teacher=label_rule)
        training_set.write_manifest(_set_manifest(out, plan, j))
        sets[(plan.name, j)] = training_set
        if plan.generator:  # recorded in each cell, so that an estimate can tell a stale cell without building sets
            n = plan.recipe.generated_total(real_counts)
            set_keys[(plan.name, j)] = (workflow.set_request(generator_plans[(plan.generator, j)], n)[1]
                                        if plan.generator in by_name else external_sets[plan.generator].content_key)
    if teacher is not None and rule is not None:
        notes.append(teacher.describe(rule))
    plans = [p for p in plans if p not in skipped]
    mine = [c for c in mine if c[0] not in skipped]

    data_key = (dataset.val.fingerprint(), dataset.test.fingerprint())
    fingerprints = {name: s.fingerprint() for name, s in sets.items()}
    todo, cells = [], []
    for plan, j, k in mine:
        regime = _cell_regime(opts, plan)
        key = config_hash(config.to_dict(), fingerprints[(plan.name, j)], data_key, seeds[k], pretrained_digest,
                          *([regime] if regime else []))
        path = _cell_path(out, plan, k, regime, j)
        found = None if opts.force else _read_cell(path, key)
        if found is not None:
            cells.append(Cell(plan.name, k, found, reused=True, fit_index=j))
        else:
            todo.append((plan, j, k, key, path))

    build = _builder(config, dataset, opts.pretrained)
    t_cells = time.perf_counter()
    what = f"{len(plans)} sets × {len(seeds)} seeds" + (f" × {len(fit_seeds)} fits" if len(fit_seeds) > 1 else "")
    what += f", shard {shard[0]}/{shard[1]}" if shard else ""
    with progress.task(f"benchmark {what}", len(mine)) as task:
        task.advance(len(cells), reused=len(cells))
        for plan, j, k, key, path in todo:
            training_set = sets[(plan.name, j)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the pretrained notes were reported once above
                outcome = train_classifier(build, training_set.images, training_set.probs, dataset.val, config,
                                           seed=seeds[k], extras=recipes.training_extras(plan.recipe, dataset.train),
                                           **_budget_arguments(opts, training_set))
            test = evaluate(outcome.model, dataset.test, config)
            record = {
                "key": key, "set": plan.name, "seed_index": k, "seed": seeds[k], "test": test, "val": outcome.val,
                "best_step": outcome.best_step, "optimizer_steps": outcome.optimizer_steps,
                "samples_seen": outcome.samples_seen, "train_size": len(training_set),
                "seconds": round(outcome.seconds, 2), "history": outcome.history,
                **({"fit_seed_index": j, "fit_seed": fit_seeds[j], "generated_set": set_keys[(plan.name, j)]}
                   if plan.generator else {}),
            }
            atomic.write_json(path, record)
            cells.append(Cell(plan.name, k, record, reused=False, fit_index=j))
            task.advance(1, set=plan.name, seed=k, acc=test["accuracy"])
    parts["cells"].actual = time.perf_counter() - t_cells

    if shard is not None:
        summary = {"shard": f"{shard[0]}/{shard[1]}", "out": str(out), "cells": len(mine),
                   "cells_of_all": len(all_cells), "cells_trained": sum(not c.reused for c in cells),
                   "cells_reused": sum(c.reused for c in cells), "notes": notes,
                   "timing": _timing(parts, time.perf_counter() - t_start)}
        return BenchmarkResult(out, summary, cells)

    # Each row's largest set of its first fit: sample grid and Table 1 (against the training split and held-out
    # images, with the real-vs-real floor).
    largest: dict[str, GeneratedSet] = {}
    for job, gen_set in sorted(generated.items(), key=lambda kv: -kv[0].n):
        if job.fit_index == 0:
            largest.setdefault(job.entry, gen_set)
    largest.update(external_sets)
    quality = generation_quality(largest, dataset, metrics, out, seed=opts.seed, progress=progress,
                                 device=metrics_device(opts.device))

    fit_runs = {e.name: [generator_plans[(e.name, j)].fit_run_id for j in range(len(fit_seeds))]
                for e in entries if (e.name, 0) in generator_plans}
    seconds = time.perf_counter() - t_start
    report = report_mod.build_report(
        opts=opts, config=config, plans=plans, sets=sets, cells=cells, seeds=seeds, dataset=dataset,
        generators=list(by_name), params=params, notes=notes, calibration=parts["cells"].calibration,
        seconds=seconds, fit_seeds=fit_seeds, entries=entries, fit_runs=fit_runs, timing=_timing(parts, seconds),
        external={name: s.source for name, s in external_sets.items()},
    )
    report["generation"] = quality
    report["artefacts"] = artefact_table(largest, dataset)
    report_mod.write_report(out, report, dataset=dataset, generated=largest)
    return BenchmarkResult(out, report, cells)


def _estimate(
    opts: BenchmarkOptions, config: ClassifierConfig, dataset: Dataset, out: Path,
    cells: list[tuple[recipes.SetPlan, int, int]], jobs: list[SetJob],
    plans: dict[tuple[str, int], GeneratorPlan], announce: Callable[[str], None],
    external_keys: dict[str, str | None] | None = None,
) -> dict[str, estimate.Part]:
    """Estimate each part of the work from what is on disk and on record, and print it, before any work."""
    parts = {name: estimate.Part() for name in estimate.PARTS}
    fits: set[Path] = set()
    for job in jobs:
        plan = plans[(job.entry, job.fit_index)]
        if workflow.set_done(plan, job.n):
            continue
        if plan.fit_dir not in fits and not plan.fit_complete():
            fits.add(plan.fit_dir)
            parts["fits"].add(*estimate.fit_seconds(plan))
        parts["sampling"].add(*estimate.sampling_seconds(plan, job.n))
    # A cell on disk counts as done when it was trained on this run's generated set (its full key is checked once
    # its training set is built).
    expected = {(job.entry, job.fit_index, job.n): workflow.set_request(plans[(job.entry, job.fit_index)], job.n)[1]
                for job in jobs}
    real_counts = dataset.train.counts()
    todo = 0
    for plan, j, k in cells:
        record = None if opts.force else _read_cell(_cell_path(out, plan, k, _cell_regime(opts, plan), j), None)
        made_from = plan.generator and (
            (external_keys or {}).get(plan.generator)
            or expected[(plan.generator, j, plan.recipe.generated_total(real_counts))])
        todo += record is None or bool(made_from and record.get("generated_set", made_from) != made_from)
    cell_part = parts["cells"]
    if todo and opts.profile != "smoke":
        calibration = calibrate(config, dataset, opts.pretrained)
        cell_part.calibration = calibration
        cell_part.add_many(todo, estimate_seconds(config, todo, calibration),
                           f"{config.steps} steps each, measured {calibration['seconds_per_step']:.3f} s/step and "
                           f"{calibration['seconds_per_val']:.2f} s per validation pass")
    elif todo:
        cell_part.add_many(todo, None, "not measured at the smoke profile")
    for line in estimate.summary_lines(parts):
        announce(line)
    return parts


def _timing(parts: dict[str, estimate.Part], seconds: float) -> dict[str, Any]:
    return {**{name: part.to_dict() for name, part in parts.items()}, "total": round(seconds, 2)}
