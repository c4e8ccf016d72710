"""What one command resolves once, before any long work: its data, and for each generator its configs and its fit.

A :class:`RunPlan` is the dataset name and options, the profile, the seed and the run store of one command. It
loads the dataset at most once per image size and fingerprints each load once (:meth:`RunPlan.load`).

:meth:`RunPlan.generator` resolves a :class:`GeneratorPlan`: the generator class and the class it fits under, the
``--set`` overrides checked once, the fit config and the sampling config validated against the data's classes,
the data it fits on, and its fit's run id and folder. The fitted model is read from disk at most once per plan
(:meth:`GeneratorPlan.model`), and a model fitted in this process is used as it is.

``workflow.fit``, ``workflow.augment``, the benchmark's generated sets and ``metrics.evaluate_generator`` take
these objects, so none of them loads, fingerprints or validates again, and none builds another's names. A variant
of a generator (other overrides) or another fit seed is another ``GeneratorPlan`` from the same ``RunPlan``: it
shares the loaded data and gets its own fit id and sets.

Where a generator runs (its ``device``, from ``--device`` or ``--set device=…``) is never part of a fit's or a set's
identity: a fit made on a GPU is reused on the CPU, and the other way round (:data:`MACHINE_OPTIONS`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from augdiff import plugins
from augdiff.data import load_dataset
from augdiff.data.spec import DataOptions, Dataset
from augdiff.devices import check_device
from augdiff.errors import AugdiffError
from augdiff.generator import Generator
from augdiff.progress import note
from augdiff.runstore import Run, config_hash, find_runs, runs_root

MODEL_DIR = "model"  # inside a fit's run folder: what ``Generator.save`` wrote
# Config keys that say where a generator computes, not what: identities take the profile's value instead, so a
# fit or a set made on one device is reused on another (their numbers differ only by floating-point rounding).
MACHINE_OPTIONS = ("device",)
REUSE_RULE = "the newest fit is reused only when seed, profile, data options and fit settings match"


@dataclass
class LoadedData:
    """One load of a dataset: the options it was loaded with (size resolved) and its fingerprint, computed once."""

    name: str
    options: DataOptions
    dataset: Dataset

    @cached_property
    def fingerprint(self) -> str:
        return self.dataset.fingerprint()

    @property
    def classes(self) -> list[str]:
        return self.dataset.classes


@dataclass
class RunPlan:
    """The data and run settings of one command; loads the dataset once per image size."""

    data: str
    options: DataOptions
    profile: str
    seed: int
    runs_dir: Path | None = None
    device: str | None = None  # --device: every generator's ``device`` (None: each profile's own, ``auto``)
    _loaded: dict[int | None, LoadedData] = field(default_factory=dict, repr=False)  # by image size
    _shown_notes: set[str] = field(default_factory=set, repr=False)

    @property
    def root(self) -> Path:
        return runs_root(self.runs_dir)

    def load(self, size: int | None = None) -> LoadedData:
        """The dataset resized to ``size``; ``--size`` wins when the user gave it, None keeps the images' size."""
        options = self.options
        if options.size is None and size:
            options = replace(options, size=int(size))
        if options.size not in self._loaded:
            self._loaded[options.size] = LoadedData(self.data, options, load_dataset(self.data, options))
        return self._loaded[options.size]

    def announce_notes(self, data: LoadedData, say: Callable[[str], None] = note) -> None:
        """Show the loader's notes (conversions, resizes, skipped files) of ``data``, each once per run: a dataset
        loaded at two sizes (the classifier's and a generator's) repeats most of them."""
        for text in data.dataset.notes:
            if text not in self._shown_notes:
                self._shown_notes.add(text)
                say(text)

    def generator(
        self, generator: str | type[Generator], overrides: dict[str, Any] | None = None, *, seed: int | None = None
    ) -> GeneratorPlan:
        """Resolve ``generator`` with ``overrides`` (``--set``) and fit seed ``seed`` (default: the run's seed)."""
        return resolve_generator(self, generator, overrides, seed=self.seed if seed is None else seed)


@dataclass
class GeneratorPlan:
    """One generator resolved for a run: what it fits under, its validated configs, its data and its fit."""

    name: str  # the generating generator (sets are filed under it)
    generator_cls: type[Generator]
    fit_cls: type[Generator]  # ``generator_cls`` itself, or the one whose fitted state it reuses (add-pro: add)
    run: RunPlan
    seed: int
    overrides: dict[str, Any]  # checked, under the current key names
    fit_config: dict[str, Any]  # the fitting generator's config (profile + overrides that affect the fit)
    sampling_config: dict[str, Any]  # the generating generator's whole config (profile + every override)
    data: LoadedData  # what it fits on: the dataset at its profile's image size unless --size was given
    fit_identity: dict[str, Any]  # the part of the fit config that decides the weights, under its identity names
    fit_run_id: str
    _model: Generator | None = field(default=None, repr=False)

    @property
    def profile(self) -> str:
        return self.run.profile

    @property
    def classes(self) -> list[str]:
        return self.data.classes

    @property
    def fit_dir(self) -> Path:
        return self.run.root / self.run.data / self.fit_cls.name / self.fit_run_id

    @property
    def model_dir(self) -> Path:
        return self.fit_dir / MODEL_DIR

    @property
    def sampling_identity(self) -> dict[str, Any]:
        """The sampling config under the key names that identify generated sets (the device left out)."""
        defaults = self.generator_cls.default_config(self.profile)
        return self.generator_cls.identity(without_machine(self.sampling_config, defaults))

    def sets_dir(self, n: int, key: str) -> Path:
        """Where a set lives when no ``--out`` is given: ``RUNS/<data>/<generator>/sets/<fit run>-n<N>-<request>``."""
        return self.run.root / self.run.data / self.name / "sets" / f"{self.fit_run_id}-n{n}-{key}"

    def fit_complete(self) -> bool:
        """Whether a finished fit with this id is on disk (a failed or interrupted one resumes instead)."""
        return self.model_dir.is_dir() and any(
            r.directory == self.fit_dir
            for r in find_runs(self.run.root, self.run.data, self.fit_cls.name, status="complete")
        )

    def refit_note(self) -> str | None:
        """Why a new fit starts although finished fits of this generator on this dataset exist (None when none
        does, or when this fit's own folder is already there: it resumes)."""
        if self.fit_dir.exists():
            return None
        others = [r for r in find_runs(self.run.root, self.run.data, self.fit_cls.name, command="fit",
                                       status="complete") if r.directory != self.fit_dir]
        if not others:
            return None
        newest = others[0]
        why = "; ".join(self.differences(newest)) or (
            "its recorded settings match; its id was named by another augdiff version")
        return f"starting a new {self.fit_cls.name} fit ({why} in {newest.directory.name}); {REUSE_RULE}"

    def differences(self, other: Run) -> list[str]:
        """What makes this plan's fit differ from the recorded fit ``other``: seed, profile, data options, fit
        settings (under their identity names, the device left out), and else the training data itself."""
        rec = other.record
        out: list[str] = []
        if rec.get("seed") != self.seed:
            out.append(f"seed {self.seed} instead of {rec.get('seed')}")
        if rec.get("profile") != self.profile:
            # Every profile value differs with it: the fit settings are not listed one by one.
            return [*out, f"profile {self.profile} instead of {rec.get('profile')}"]
        options, recorded = self.run.options.record(), rec.get("data_options") or {}
        for key in sorted(set(options) | set(recorded)):
            if key == "seed" and out:
                continue  # the data seed follows the seed already named
            if options.get(key) != recorded.get(key):
                out.append(f"data option {key} {_shown(options.get(key))} instead of {_shown(recorded.get(key))}")
        defaults = self.fit_cls.default_config(self.profile)
        saved = self.fit_cls.current_names(rec.get("config") or {})
        saved = {k: v for k, v in saved.items() if k not in self.fit_cls.sampling_options}
        theirs = self.fit_cls.identity(without_machine(saved, defaults))
        changed = [k for k in sorted(set(self.fit_identity) | set(theirs))
                   if self.fit_identity.get(k, _ABSENT) != theirs.get(k, _ABSENT)]
        shown = [f"{k}={_shown(self.fit_identity.get(k, _ABSENT))} instead of {_shown(theirs.get(k, _ABSENT))}"
                 for k in changed[:3]]
        out += shown + ([f"{len(changed) - 3} more fit settings"] if len(changed) > 3 else [])
        if not out and rec.get("data_fingerprint") != self.data.fingerprint:
            out.append(f"the training images changed (data fingerprint {self.data.fingerprint} instead of "
                       f"{rec.get('data_fingerprint')})")
        return out

    def new_fit_model(self) -> Generator:
        """A fresh, unfitted model of the fitting generator."""
        return self.fit_cls(self.fit_config, self.classes)

    def adopt(self, fitted: Generator) -> None:
        """Use a model fitted in this process instead of reading it back (when it is the generating class)."""
        if type(fitted) is self.generator_cls:
            fitted.config.update(self.sampling_config)
            self._model = fitted

    def model(self) -> Generator:
        """The fitted generator with this plan's sampling config, read from disk the first time only."""
        if self._model is None:
            # A derived generator (add-pro) wraps its parent's fitted state with its own generation behaviour.
            model = self.generator_cls.load(self.model_dir)
            model.config.update(self.sampling_config)
            self._model = model
        return self._model


_ABSENT = "(unset)"


def _shown(value: Any) -> str:
    return "none" if value is None else value if isinstance(value, str) else json.dumps(value)


def without_machine(config: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``config`` with each :data:`MACHINE_OPTIONS` key at the profile's value (``defaults``): identities of fits
    made before ``--device`` existed stay what they were, and no device ever changes one."""
    return {k: defaults.get(k, v) if k in MACHINE_OPTIONS else v for k, v in config.items()}


def machine_options(
    gen_cls: type[Generator], profile: str, checked: dict[str, Any], device: str | None
) -> dict[str, Any]:
    """The device this generator runs on, from ``--set device=…`` or ``--device``, checked against this machine;
    empty when neither is given or the generator has no ``device`` option (stain-jitter)."""
    chosen = checked.get("device")
    if chosen is not None:
        chosen = check_device(chosen, "--set device")
    if device is not None:
        if chosen is not None and chosen != device:
            raise AugdiffError(f"--device {device} and --set device={chosen}: give the device once")
        chosen = device
    return {"device": chosen} if chosen is not None and "device" in gen_cls.default_config(profile) else {}


def fit_run_id(profile: str, seed: int, identity: dict[str, Any], fingerprint: str) -> str:
    """A fit's run id: its profile, seed, fit config (under its identity key names) and data fingerprint."""
    return f"fit-{profile}-s{seed}-{config_hash(identity, fingerprint)}"


def resolve_generator(
    run: RunPlan, generator: str | type[Generator], overrides: dict[str, Any] | None = None, *, seed: int
) -> GeneratorPlan:
    """Check the overrides, validate both configs, load the data and name the fit — everything before any work."""
    gen_cls = plugins.get_generator(generator) if isinstance(generator, str) else generator
    fit_name = gen_cls.fitted_under()
    fit_cls = gen_cls if fit_name == gen_cls.name else plugins.get_generator(fit_name)
    checked = gen_cls.check_overrides(run.profile, overrides)  # the one check of the user's keys and types
    machine = machine_options(gen_cls, run.profile, checked, run.device)
    # Sampling-only options (e.g. ``sample_steps``) never change which fit is used; the device reaches the fit
    # (it trains there) but not its identity.
    fit_defaults = fit_cls.default_config(run.profile)
    fit_overrides = {k: v for k, v in checked.items()
                     if k in fit_defaults and k not in fit_cls.sampling_options and k not in MACHINE_OPTIONS}
    fit_overrides.update({k: v for k, v in machine.items() if k in fit_defaults})
    fit_config = {**fit_defaults, **fit_overrides}
    fit_cls.from_config(fit_config, [], fit_overrides)  # a bad value fails before the data is loaded
    data = run.load(fit_config.get("image_size"))
    fit_model = fit_cls.from_config(fit_config, data.classes, fit_overrides)
    # The generating config, checked in full now rather than after a fit of up to an hour.
    sampling_overrides = {**checked, **machine}
    sampling = gen_cls.from_config({**gen_cls.default_config(run.profile), **sampling_overrides}, data.classes,
                                   sampling_overrides)
    identity = fit_cls.identity(without_machine(fit_model.fit_config(), fit_defaults))
    return GeneratorPlan(
        name=gen_cls.name, generator_cls=gen_cls, fit_cls=fit_cls, run=run, seed=seed, overrides=checked,
        fit_config=fit_model.config, sampling_config=sampling.config, data=data, fit_identity=identity,
        fit_run_id=fit_run_id(run.profile, seed, identity, data.fingerprint),
    )


def plan_generator(
    generator: str | type[Generator],
    data: str,
    options: DataOptions,
    *,
    profile: str,
    seed: int,
    runs_dir: Path | None = None,
    overrides: dict[str, Any] | None = None,
    device: str | None = None,
) -> GeneratorPlan:
    """One generator on one dataset: the plan a single ``fit``/``augment``/``evaluate`` call needs."""
    return RunPlan(data, options, profile, seed, runs_dir, device).generator(generator, overrides)
