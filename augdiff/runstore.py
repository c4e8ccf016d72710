"""The run store: ``RUNS/<dataset>/<generator>/<run-id>/run.json`` records what each command did.

``run.json`` is rewritten atomically at start (status ``running``) and at the end (``complete`` or ``failed``),
so a crashed command is visible as such and never looks finished. A run holds ``.lock`` in its folder while it
works (see :mod:`augdiff.locks`); a run whose process was killed is marked ``interrupted`` by the next run started
next to it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from augdiff import atomic, locks

ENV_RUNS = "AUGDIFF_RUNS_DIR"
RUN_JSON = "run.json"
LOCK_FILE = ".lock"
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
    """Open a run folder (reusing ``run_id`` when given, so re-running a fit resumes it) and track its status.

    The run folder is locked for the whole block: a second process starting the same run gets a one-line error
    naming the first, instead of both doing the work and overwriting each other's files.
    """
    run_id = run_id or dt.datetime.now().strftime(f"{command}-%Y%m%d-%H%M%S-{os.getpid()}")
    directory = Path(root) / dataset / generator / run_id
    directory.mkdir(parents=True, exist_ok=True)
    with locks.hold(directory / LOCK_FILE, f"run {directory}"):
        # Holding the lock, nobody else writes here: temporaries are leftovers of a killed process.
        remove_stale_temporaries(directory)
        mark_interrupted(directory.parent)
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
                "pid": os.getpid(),
                "host": socket.gethostname(),
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


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete ``.*.tmp`` files and folders (atomic writes cut short) anywhere under a run folder we hold."""
    removed = []
    for tmp in sorted(Path(directory).rglob(".*.tmp"), key=lambda p: len(p.parts)):
        if not tmp.exists() and not tmp.is_symlink():
            continue  # inside a temporary folder removed just before
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def mark_interrupted(generator_dir: Path) -> list[Path]:
    """Mark ``running`` runs in ``generator_dir`` as ``interrupted`` when their process is gone.

    Gone means: no live lock (absent, or stale) and, for a record from this host, its ``pid`` no longer runs.
    Records without a ``pid`` (written before runs were locked) are left alone: nothing tells whether they still run.
    """
    marked = []
    for d in sorted(Path(generator_dir).glob("*/")):
        rec = _read(d)
        pid = rec.get("pid")
        if rec.get("status") != "running" or not isinstance(pid, int) or locks.is_held(d / LOCK_FILE):
            continue
        if rec.get("host") == socket.gethostname() and locks.pid_alive(pid):
            continue
        rec.update(status="interrupted", error="the process stopped before the run finished (killed or crashed)")
        atomic.write_json(d / RUN_JSON, rec)
        marked.append(d)
    return marked


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
    return sorted(runs, key=_recency, reverse=True)


def _recency(run: Run) -> tuple[str, float]:
    """When a run last finished (or started); run.json's write time breaks ties within the recorded second."""
    try:
        written = (run.directory / RUN_JSON).stat().st_mtime
    except OSError:
        written = 0.0
    return run.record.get("finished") or run.record.get("started") or "", written
