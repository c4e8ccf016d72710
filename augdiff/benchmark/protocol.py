"""Run the comparison: fit/generate what is missing, build every training set, train each with K seeds, report.

A *cell* is one training set trained with one seed. Each finished cell is written to
``OUT/cells/<set>/seed<k>.json`` with a key hashing everything that determines it (classifier recipe, the exact
training set, the validation/test data, the seed, the pretrained file), so an interrupted or repeated benchmark
reuses every finished cell and recomputes only what changed (``force`` recomputes all).

Seed k of every set is the same number, ``derive_seed(seed, "classifier", k)``: sets are compared under identical
initialisation, batch order and augmentation streams, which is what makes the paired differences meaningful.
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

from augdiff import atomic, plugins, workflow
from augdiff.benchmark import recipes
from augdiff.benchmark import report as report_mod
from augdiff.benchmark.generation import default_metrics, generation_quality
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
from augdiff.errors import AugdiffError
from augdiff.generator import GeneratedSet
from augdiff.metrics import artefacts
from augdiff.pictures import resize_images
from augdiff.plan import GeneratorPlan, RunPlan
from augdiff.progress import NullReporter, Reporter
from augdiff.runstore import config_hash, runs_root
from augdiff.seeding import derive_seed

CELLS = "cells"


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

    def regime(self) -> dict[str, Any]:
        """What, besides the classifier recipe, decides how every cell trains (part of each cell's key)."""
        prob = self.synthetic_prob if self.budget == "epochs" else None
        return {"budget": self.budget, "synthetic_prob": prob, "drop_artefacts": self.drop_artefacts}


BUDGETS = ("steps", "epochs")
DEFAULT_REGIME = {"budget": "steps", "synthetic_prob": None, "drop_artefacts": False}


@dataclass
class Cell:
    set_name: str
    seed_index: int
    result: dict[str, Any]
    reused: bool


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


def _cell_path(out: Path, plan: recipes.SetPlan, k: int, regime: dict[str, Any] | None) -> Path:
    tag = "" if regime is None else "@" + "-".join(f"{k}={v}" for k, v in regime.items() if v not in (None, False))
    return out / CELLS / f"{plan.slug}{tag}" / f"seed{k}.json"


def _read_cell(path: Path, key: str) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("key") == key else None


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


def _builder(config: ClassifierConfig, dataset: Dataset, pretrained: Path | None) -> Callable[[], Any]:
    size = dataset.image_size
    return lambda: build_classifier(config.classifier, len(dataset.classes), size, pretrained)


def run_benchmark(
    opts: BenchmarkOptions,
    *,
    progress: Reporter = NullReporter(),
    announce: Callable[[str], None] = lambda _msg: None,
) -> BenchmarkResult:
    """Everything behind ``augdiff benchmark``; returns the report (also written to the output folder)."""
    if opts.seeds < 1:
        raise AugdiffError(f"--seeds {opts.seeds}: need at least one seed (3 or more for confidence intervals)")
    if opts.budget not in BUDGETS:
        raise AugdiffError(f"--budget {opts.budget}: choose one of {', '.join(BUDGETS)}")
    if not 0.0 < opts.synthetic_prob < 1.0:
        raise AugdiffError(f"--synthetic-prob {opts.synthetic_prob}: must lie strictly between 0 and 1")
    t_start = time.perf_counter()
    config = classifier_config(opts.profile, opts.classifier, opts.steps)
    metrics = default_metrics(opts.profile) if opts.metrics is None else opts.metrics
    if metrics:
        from augdiff.metrics.evaluate import resolve_metrics

        resolve_metrics(metrics)  # a misspelt --metrics fails before any long work
    generators = _resolve_generators(opts.generators)
    plans = recipes.plan_sets(opts.sets, generators)
    out = Path(opts.out) if opts.out is not None else default_out(opts, config)
    run = RunPlan(opts.data, opts.data_options, opts.profile, opts.seed, opts.runs_dir)
    # The real splits at the classifier's input size (``--size`` wins over the profile's).
    dataset = run.load(config.image_size).dataset
    seeds = classifier_seeds(opts.seed, opts.seeds)
    notes = list(dataset.notes)
    pretrained_digest = _file_digest(opts.pretrained)

    # Build the model once up front: a bad --classifier/--pretrained/--size fails before any long work.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        params = sum(p.numel() for p in _builder(config, dataset, opts.pretrained)().parameters())
    notes += [str(w.message) for w in caught if issubclass(w.category, PretrainedMismatchWarning)]
    for note in notes:
        announce(f"note: {note}")

    # Every generator a set needs, resolved once: configs validated, its data loaded (at its own profile's size
    # unless --size was given), its fit named. Then the generated sets, fitting first where needed, one per
    # (generator, size): each generator's fitted model is read from disk at most once.
    real_counts = dataset.train.counts()
    generator_plans: dict[str, GeneratorPlan] = {}
    for plan in plans:
        if plan.generator is not None and plan.generator not in generator_plans:
            generator_plans[plan.generator] = run.generator(plan.generator)
    generated: dict[tuple[str, int], GeneratedSet] = {}
    for plan in plans:
        if plan.generator is None:
            continue
        n = plan.recipe.generated_total(real_counts)
        if (plan.generator, n) not in generated:
            announce(f"generated set: {plan.generator} x {n} (fit and sample if missing)")
            generated[(plan.generator, n)] = workflow.augment(
                generator_plans[plan.generator], n=n, progress=progress).generated

    sets = {}
    for plan in list(plans):
        source = generated.get((plan.generator, plan.recipe.generated_total(real_counts))) if plan.generator else None
        missing = recipes.missing_classes(plan.recipe, source)
        if missing:
            # e.g. `add` migrates normal → tumor only: it has no normal images for a per-class set.
            note = (f"{plan.name} skipped: {plan.generator} generated no {', '.join(missing)} images "
                    f"(a per-class set needs every class)")
            announce(f"note: {note}")
            notes.append(note)
            plans.remove(plan)
            continue
        training_set = recipes.build_set(plan, dataset.train, source, drop_artefacts=opts.drop_artefacts)
        training_set.write_manifest(out / "sets" / f"{plan.slug}.jsonl")
        sets[plan.name] = training_set

    data_key = (dataset.val.fingerprint(), dataset.test.fingerprint())
    todo, cells = [], []
    for plan in plans:
        for k, seed_k in enumerate(seeds):
            regime = _cell_regime(opts, plan)
            key = config_hash(config.to_dict(), sets[plan.name].fingerprint(), data_key, seed_k, pretrained_digest,
                              *([regime] if regime else []))
            path = _cell_path(out, plan, k, regime)
            found = None if opts.force else _read_cell(path, key)
            if found is not None:
                cells.append(Cell(plan.name, k, found, reused=True))
            else:
                todo.append((plan, k, seed_k, key, path))

    calibration = None
    if todo and opts.profile != "smoke":
        calibration = calibrate(config, dataset, opts.pretrained)
        expected = estimate_seconds(config, len(todo), calibration)
        announce(
            f"expected wall time ≈ {expected / 60:.1f} min for {len(todo)} cells × {config.steps} steps "
            f"(measured {calibration['seconds_per_step']:.3f} s/step, {calibration['seconds_per_val']:.2f} s per "
            f"validation pass); generator fitting/sampling is not included"
        )

    build = _builder(config, dataset, opts.pretrained)
    with progress.task(f"benchmark {len(plans)} sets × {len(seeds)} seeds", len(plans) * len(seeds)) as task:
        task.advance(len(cells), reused=len(cells))
        for plan, k, seed_k, key, path in todo:
            training_set = sets[plan.name]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the pretrained notes were reported once above
                outcome = train_classifier(build, training_set.images, training_set.probs, dataset.val, config,
                                           seed=seed_k, extras=recipes.training_extras(plan.recipe, dataset.train),
                                           **_budget_arguments(opts, training_set))
            test = evaluate(outcome.model, dataset.test, config)
            record = {
                "key": key, "set": plan.name, "seed_index": k, "seed": seed_k, "test": test, "val": outcome.val,
                "best_step": outcome.best_step, "optimizer_steps": outcome.optimizer_steps,
                "samples_seen": outcome.samples_seen, "train_size": len(training_set),
                "seconds": round(outcome.seconds, 2), "history": outcome.history,
            }
            atomic.write_json(path, record)
            cells.append(Cell(plan.name, k, record, reused=False))
            task.advance(1, set=plan.name, seed=k, acc=test["accuracy"])

    largest: dict[str, GeneratedSet] = {}
    for (name, _n), gen_set in sorted(generated.items(), key=lambda kv: -kv[0][1]):
        largest.setdefault(name, gen_set)
    quality = generation_quality(largest, dataset, metrics, out, seed=opts.seed, progress=progress)

    report = report_mod.build_report(
        opts=opts, config=config, plans=plans, sets=sets, cells=cells, seeds=seeds, dataset=dataset,
        generators=generators, params=params, notes=notes, calibration=calibration,
        seconds=time.perf_counter() - t_start,
    )
    report["generation"] = quality
    report["artefacts"] = artefact_table(largest, dataset)
    report_mod.write_report(out, report, dataset=dataset, generated=largest)
    return BenchmarkResult(out, report, cells)
