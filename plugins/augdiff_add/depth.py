"""Adaptive depth control (ADD paper §2.3): choose, per source, the bridge depths whose outputs hit requested
soft labels, and the reference code's depth rule for comparison.

Depths are indices into the respaced DDIM grid (0 = the first grid step, ``num_depths - 1`` = the full
translation x_l, whose label is 1 by Eq. 9). Index −1 stands for the source itself (label 0); it is never chosen.

The paper's search treats the label as a monotone trend in depth (more noise → more of the target domain) and
runs a batched interpolation search: every round decodes, for all sources at once, one probe per unresolved
target inside the bracket where that target is first crossed; any decoded depth whose label is within ``tol``
of a target is taken as it is, so probes double as samples and no depth is decoded twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

FULL = "full"
# measure(pairs) decodes the (source, depth index) pairs and returns their achieved labels in the same order.
MeasureFn = Callable[[list[tuple[int, int]]], np.ndarray]


@dataclass
class DepthChoice:
    depth_index: np.ndarray  # int (sources, targets)
    label: np.ndarray  # float (sources, targets): achieved labels, NaN where the measure is undefined
    probes: int  # decodes the search asked for, the full translations excluded
    rounds: int


def _bracket(known: dict[int, float], target: float) -> tuple[int, int]:
    """(lo, hi): hi = the shallowest known depth whose label reaches ``target``, lo the deepest known below it."""
    depths = sorted(known)
    hi = next(d for d in depths if known[d] >= target or d == depths[-1])
    lo = max(d for d in depths if d < hi)
    return lo, hi


def _probe(known: dict[int, float], target: float, lo: int, hi: int, shrink: bool) -> int:
    """Regula falsi inside (lo, hi); after the first round the probe is kept off the bracket ends so the
    bracket shrinks by at least a quarter even when the label curve is far from linear."""
    l_lo, l_hi = known[lo], known[hi]
    frac = 0.5 if l_hi <= l_lo else (target - l_lo) / (l_hi - l_lo)
    d = lo + frac * (hi - lo)
    if shrink:
        quarter = (hi - lo) / 4
        d = min(max(d, lo + quarter), hi - quarter)
    return int(min(max(round(d), lo + 1), hi - 1))


def _nearest(known: dict[int, float], target: float) -> int:
    candidates = [d for d in known if d >= 0 and not np.isnan(known[d])]
    return min(candidates, key=lambda d: (abs(known[d] - target), d))


def spread_depth(target: float, num_depths: int) -> int:
    """The paper's i = t/T: the depth index proportional to ``target`` (used where Eq. 9 is undefined)."""
    top = num_depths - 1
    return min(top, max(0, round(target * top)))


def search_depths(
    measure: MeasureFn,
    num_sources: int,
    num_depths: int,
    targets: Sequence[float],
    *,
    tol: float = 0.025,
    max_rounds: int = 6,
    undefined: np.ndarray | None = None,
) -> DepthChoice:
    """Find, for every source and target, a depth index whose decoded output's label is within ``tol``.

    ``measure`` must already know each source's full translation (depth ``num_depths - 1``, label 1).
    Sources whose labels are undefined (NaN anywhere: source and translation indistinguishable), or marked in
    ``undefined`` up front, get depths spread in proportion to the target, the paper's i = t/T; their labels are
    NaN. Every returned depth has been passed to ``measure`` (or is the full translation), so a caller whose
    ``measure`` decodes holds every image it is asked for; achieved labels are the measured ones.
    """
    targets = [float(t) for t in targets]
    if any(not 0.0 < t <= 1.0 for t in targets):
        raise ValueError(f"targets must lie in (0, 1], got {targets}")
    top = num_depths - 1
    known: list[dict[int, float]] = [{-1: 0.0, top: 1.0} for _ in range(num_sources)]
    undefined = np.zeros(num_sources, dtype=bool) if undefined is None else np.array(undefined, dtype=bool)
    probes = rounds = 0

    def record(pairs: list[tuple[int, int]]) -> None:
        nonlocal probes
        labels = measure(pairs)
        probes += len(pairs)
        for (s, d), value in zip(pairs, labels, strict=True):
            if np.isnan(value):
                undefined[s] = True
            known[s][d] = float(value)

    for rounds in range(1, max_rounds + 1):
        wanted: dict[tuple[int, int], None] = {}
        for s in range(num_sources):
            if undefined[s]:
                continue
            for target in targets:
                if any(d >= 0 and abs(v - target) <= tol for d, v in known[s].items()):
                    continue
                lo, hi = _bracket(known[s], target)
                if hi - lo > 1:
                    wanted[(s, _probe(known[s], target, lo, hi, shrink=rounds > 1))] = None
                elif lo == -1 and 0 not in known[s]:
                    wanted[(s, 0)] = None  # the shallowest real depth is still a candidate
        if not wanted:
            break
        record(list(wanted))
    # Undefined sources take the spread depths, which the search never probed: measure (decode) them too.
    spread = {(s, spread_depth(t, num_depths)) for s in np.flatnonzero(undefined) for t in targets}
    missing = sorted((int(s), d) for s, d in spread if d not in known[s])
    if missing:
        record(missing)
    choice = np.zeros((num_sources, len(targets)), dtype=np.int64)
    achieved = np.full((num_sources, len(targets)), np.nan)
    for s in range(num_sources):
        for j, target in enumerate(targets):
            if undefined[s]:
                choice[s, j] = spread_depth(target, num_depths)
            else:
                choice[s, j] = _nearest(known[s], target)
                achieved[s, j] = known[s][choice[s, j]]
    return DepthChoice(choice, achieved, probes, rounds)


def reference_depths(latent_measure: np.ndarray, num_levels: int) -> tuple[np.ndarray, bool]:
    """The reference script's depth rule, reproduced for comparison (docs/generators/add.md).

    ``latent_measure[k]`` is its measure of the encoded latent at grid index k. The list is reversed; targets are
    min + (max − min)·i/L for i = 1…L; for each target the nearest index greater than the previous choice is
    taken and used directly as the encoding depth (so the depths mirror where the reversed list crosses the
    targets). When it runs out of indices it falls back to evenly spaced depths, as the script does silently.
    Returns (depth indices, whether the fallback was used).
    """
    values = np.asarray(latent_measure, dtype=np.float64)[::-1]
    n = len(values)
    lo, hi = float(values.min()), float(values.max())
    chosen: list[int] = []
    previous = -1
    for i in range(1, num_levels + 1):
        target = lo + (hi - lo) * i / num_levels
        if previous + 1 >= n:
            return fallback_depths(n, num_levels), True
        rest = values[previous + 1 :]
        previous = previous + 1 + int(np.argmin(np.abs(rest - target)))
        chosen.append(previous)
    return np.asarray(chosen, dtype=np.int64), False


def fallback_depths(num_depths: int, num_levels: int) -> np.ndarray:
    """[T/10, 2T/10, …, 9T/10, T − 1] on a grid of ``num_depths`` (the script's [100, 200, …, 900, 999])."""
    return np.array(
        [min(num_depths - 1, round(i * num_depths / num_levels)) for i in range(1, num_levels + 1)], dtype=np.int64
    )
