"""The run store: ``RUNS/<dataset>/<generator>/<run-id>/run.json`` records what each command did.

``run.json`` is rewritten atomically at start (status ``running``) and at the end (``complete`` or ``failed``),
so a crashed command is visible as such and never looks finished.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from augdiff import atomic

ENV_RUNS = "AUGDIFF_RUNS_DIR"
RUN_JSON = "run.json"
_VERSIONED = ("augdiff", "torch", "torchvision", "timm", "albumentations", "numpy", "torchmetrics", "scikit-learn")


def runs_root(runs_dir: str | os.PathLike | None = None) -> Path:
    return Path(runs_dir or os.environ.get(ENV_RUNS) or "runs")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def config_hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Run:
    directory: Path
    record: dict[str, Any] = field(default_factory=dict)

    def write(self) -> None:
        atomic.write_json(self.directory / RUN_JSON, self.record)

    def update(self, **fields: Any) -> None:
        self.record.update(fields)
        self.write()


@contextlib.contextmanager
def start_run(
    root: Path,
    *,
    dataset: str,
    generator: str,
    command: str,
    config: dict[str, Any],
    seed: int,
    data_fingerprint: str,
    run_id: str | None = None,
) -> Iterator[Run]:
    """Open a run folder (reusing ``run_id`` when given, so re-running a fit resumes it) and track its status."""
    run_id = run_id or dt.datetime.now().strftime(f"{command}-%Y%m%d-%H%M%S-{os.getpid()}")
    directory = Path(root) / dataset / generator / run_id
    directory.mkdir(parents=True, exist_ok=True)
    previous = _read(directory)
    run = Run(
        directory,
        {
            "command": command,
            "argv": sys.argv,
            "dataset": dataset,
            "generator": generator,
            "config": config,
            "seed": seed,
            "data_fingerprint": data_fingerprint,
            "versions": versions(),
            "started": _now(),
            "attempts": int(previous.get("attempts", 0)) + 1,
            "status": "running",
        },
    )
    run.write()
    t0 = time.perf_counter()
    try:
        yield run
    except BaseException as exc:
        run.update(status="failed", error=f"{type(exc).__name__}: {exc}", finished=_now(),
                   seconds=round(time.perf_counter() - t0, 2))
        raise
    run.update(status="complete", finished=_now(), seconds=round(time.perf_counter() - t0, 2))


def _read(directory: Path) -> dict[str, Any]:
    try:
        return json.loads((directory / RUN_JSON).read_text())
    except (OSError, ValueError):
        return {}


def find_runs(root: Path, dataset: str, generator: str, **match: Any) -> list[Run]:
    """Runs of ``generator`` on ``dataset`` whose run.json has every ``match`` field equal, newest first."""
    base = Path(root) / dataset / generator
    runs = []
    for d in base.glob("*/") if base.is_dir() else []:
        rec = _read(d)
        if rec and all(rec.get(k) == v for k, v in match.items()):
            runs.append(Run(d, rec))
    return sorted(runs, key=lambda r: r.record.get("finished") or r.record.get("started") or "", reverse=True)
