"""What a benchmark will cost, said before any work, and what it did cost, said in the report.

Three parts, each estimated from what is known on this machine and left "unknown" where nothing is:

- **fits**: the recorded wall time of a finished fit of the same config in the runs folder (any seed: a fit's
  time does not depend on it); else a finished fit whose config differs only in ``steps``, scaled by the steps
  (its seconds per step × this fit's steps); else unknown. A fit that was resumed records only its last attempt,
  so such records are not used.
- **sampling**: seconds per image of a finished, uninterrupted ``augment`` of the same generator and sampling
  config, times the images needed; else unknown.
- **classifier cells**: seconds per optimiser step and per validation pass measured on this machine
  (:func:`augdiff.benchmark.protocol.calibrate`) times the cells to train; the smoke profile skips that
  measurement (its cells take seconds).

Actual times are measured around each fit, each generated set and the training loop.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from augdiff.plan import GeneratorPlan
from augdiff.runstore import find_runs

PARTS = ("fits", "sampling", "cells")
PART_LABELS = {"fits": "fits", "sampling": "sampling", "cells": "classifier cells"}


@dataclass
class Part:
    """One part of the work: how many items to do, the sum of their known estimates, what they rest on."""

    count: int = 0
    seconds: float = 0.0  # the sum over the items that have an estimate
    unknown: int = 0  # items without one
    basis: list[str] = field(default_factory=list)
    actual: float = 0.0  # measured while the work ran
    calibration: dict[str, float] | None = None  # classifier cells: the measurement the estimate rests on

    def add(self, seconds: float | None, basis: str) -> None:
        self.add_many(1, seconds, basis)

    def add_many(self, count: int, seconds: float | None, basis: str) -> None:
        """``count`` items whose estimate together is ``seconds`` (None: unknown)."""
        self.count += count
        if seconds is None:
            self.unknown += count
        else:
            self.seconds += seconds
        self.basis.append(basis)

    @property
    def estimate(self) -> float | None:
        """Seconds, or None when some item has no estimate."""
        return None if self.unknown else self.seconds

    def text(self) -> str:
        if not self.count:
            return "nothing to do"
        if self.unknown == self.count:
            return "unknown"
        known = f"≈ {_minutes(self.seconds)}"
        return known if not self.unknown else f"{known} + {self.unknown} unknown"

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "estimate": None if self.estimate is None else round(self.estimate, 1),
                "known": round(self.seconds, 1), "unknown": self.unknown, "basis": self.basis,
                "actual": round(self.actual, 2)}


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))  # as run.json stores it (tuples become lists)


def fit_seconds(plan: GeneratorPlan) -> tuple[float | None, str]:
    """A finished fit of the same config (or the same but for ``steps``) on record; else unknown."""
    config = _json(plan.fit_config)
    fingerprint = plan.data.fingerprint
    runs = [r.record for r in find_runs(plan.run.root, plan.run.data, plan.fit_cls.name, command="fit",
                                        status="complete")
            if r.record.get("attempts", 1) == 1 and isinstance(r.record.get("seconds"), (int, float))]
    runs.sort(key=lambda rec: rec.get("data_fingerprint") != fingerprint)  # the same data first (stable)
    for rec in runs:
        if rec.get("config") == config:
            return float(rec["seconds"]), f"{plan.fit_cls.name}: recorded fit of this config"
    steps = config.get("steps")
    if isinstance(steps, int) and steps > 0:
        for rec in runs:
            other = rec.get("config") or {}
            was = other.get("steps")
            if isinstance(was, int) and was > 0 and {**other, "steps": steps} == config:
                return (float(rec["seconds"]) * steps / was,
                        f"{plan.fit_cls.name}: recorded fit of {was} steps, scaled to {steps}")
    return None, f"{plan.fit_cls.name}: unknown, no finished fit of this config in {plan.run.root}"


def sampling_seconds(plan: GeneratorPlan, n: int) -> tuple[float | None, str]:
    """Seconds per image of a finished, uninterrupted set of the same sampling config, times ``n``."""
    config = _json(plan.sampling_config)
    for run in find_runs(plan.run.root, plan.run.data, plan.name, command="augment", status="complete"):
        rec = run.record
        made, seconds = rec.get("n"), rec.get("seconds")
        same = all((rec.get("config") or {}).get(k) == v for k, v in config.items())
        if same and not rec.get("resumed_chunks") and isinstance(made, int) and made > 0 and seconds is not None:
            return float(seconds) * n / made, f"{plan.name} × {n}: {float(seconds) / made:.3f} s per image on record"
    return None, f"{plan.name} × {n}: unknown, no finished set of this sampling config on record"


def _grouped(basis: list[str]) -> str:
    """Repeated reasons once, counted ("2 × add: unknown …")."""
    counts = Counter(basis)
    return "; ".join(text if n == 1 else f"{n} × {text}" for text, n in counts.items())


def summary_lines(parts: dict[str, Part]) -> list[str]:
    """The lines printed before any work."""
    lines = [f"  {PART_LABELS[name]}: {parts[name].count} to do, {parts[name].text()}"
             + (f" ({_grouped(parts[name].basis)})" if parts[name].basis else "") for name in PARTS]
    known = sum(p.seconds for p in parts.values())
    unknown = [PART_LABELS[n] for n, p in parts.items() if p.unknown]
    total = f"≈ {_minutes(known)}" + (f" plus the unknown {', '.join(unknown)}" if unknown else "")
    return ["estimate before any work:", *lines, f"  total {total}"]


def report_text(timing: dict[str, Any]) -> str:
    """One line of the report: each part's estimate against its actual wall time."""
    def part(name: str) -> str:
        p = timing[name]
        if p["count"] == 0:
            est = "nothing to do"
        elif p["unknown"] == p["count"]:
            est = "unknown"
        else:
            est = f"≈ {_minutes(p['known'])}" + (f" + {p['unknown']} unknown" if p["unknown"] else "")
        return f"{PART_LABELS[name]} {est} → {_minutes(p['actual'])}"

    return "; ".join(part(name) for name in PARTS) + f"; total {_minutes(timing['total'])}"
