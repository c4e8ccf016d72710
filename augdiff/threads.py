"""How many threads torch uses in augdiff, and how its idle OpenMP threads wait: both chosen at CLI start.

- ``OMP_WAIT_POLICY`` defaults to ``PASSIVE``: idle OpenMP threads sleep at once instead of spinning
  (libgomp's default spins ~300 000 times after every parallel region). On a shared machine a spinning thread
  takes a core from the other jobs, and from this job's own threads when they are preempted
  (``benchmarks/bench_threads.py`` measures it). The OpenMP runtime reads the variable once, when it is loaded
  (libgomp, torch's on Linux, when ``import torch`` loads it), so it must be in the environment before torch
  is imported; setting it later is silently ignored. A value the user set is never changed.
- ``AUGDIFF_THREADS`` sets torch's intra-op threads: a positive integer, or ``auto`` for the physical cores
  this process may run on. Unset: torch's own default (``OMP_NUM_THREADS`` when set).

Deliberately free of torch at import time: the CLI imports this module before anything loads torch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, MutableMapping
from pathlib import Path

from augdiff.errors import AugdiffError

THREADS_VARIABLE = "AUGDIFF_THREADS"
WAIT_POLICY_VARIABLE = "OMP_WAIT_POLICY"
DEFAULT_WAIT_POLICY = "PASSIVE"
_SYSFS_CPU = Path("/sys/devices/system/cpu")


def default_wait_policy(environ: MutableMapping[str, str] = os.environ) -> str:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless it is set already; returns the value in effect.

    Call it before torch is imported: the OpenMP runtime reads the variable when it is loaded.
    """
    if not environ.get(WAIT_POLICY_VARIABLE):
        environ[WAIT_POLICY_VARIABLE] = DEFAULT_WAIT_POLICY
    return environ[WAIT_POLICY_VARIABLE]


def available_cpus() -> list[int]:
    """The logical CPUs this process may run on (its affinity mask, which taskset, cgroups' cpusets and SLURM
    set); every CPU where the platform has no affinity call (macOS, Windows)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def physical_cores(cpus: Iterable[int] | None = None, sysfs: Path = _SYSFS_CPU) -> int:
    """Distinct physical cores among ``cpus`` (default: :func:`available_cpus`).

    SMT siblings share one core's arithmetic units, so a second thread on them adds little to dense kernels
    but does add synchronisation. A CPU whose topology cannot be read counts as a core of its own.
    """
    cores: set[tuple[str, str]] = set()
    for cpu in available_cpus() if cpus is None else cpus:
        topology = sysfs / f"cpu{cpu}" / "topology"
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            package, core = "?", f"cpu{cpu}"
        cores.add((package, core))
    return max(1, len(cores))


def parse_threads(value: str | None) -> int | None:
    """``AUGDIFF_THREADS``'s value as a thread count; None when unset or empty (keep torch's default)."""
    if value is None or not value.strip():
        return None
    text = value.strip().lower()
    if text == "auto":
        return physical_cores()
    try:
        threads = int(text)
    except ValueError:
        threads = 0
    if threads < 1:
        raise AugdiffError(
            f"{THREADS_VARIABLE}={value!r}: give a positive number of threads or 'auto' (the physical cores "
            "this process may use), or unset it for torch's default"
        )
    return threads


def apply_threads(environ: MutableMapping[str, str] = os.environ) -> int | None:
    """Set torch's intra-op threads from ``AUGDIFF_THREADS``; the count set, or None when it is unset."""
    threads = parse_threads(environ.get(THREADS_VARIABLE))
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return threads
