"""Means with 95 % confidence intervals over seeds, and paired differences to the baseline.

With K seeds the interval is mean ± t_{0.975, K−1} · s / √K (Student t, s the sample standard deviation). Every
set is trained with the same K seeds, so seed k of a set and seed k of the baseline share initialisation, batch
order and augmentation stream; their difference removes that shared noise (a paired t interval).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float  # NaN with a single value: no interval can be estimated
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    @property
    def excludes_zero(self) -> bool:
        return self.n > 1 and (self.low > 0 or self.high < 0)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["half_width"] = self.half_width
        out["excludes_zero"] = self.excludes_zero
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


def mean_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no values")
    mean = float(x.mean())
    if x.size == 1:
        return Interval(mean, math.nan, math.nan, 1)
    half = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return Interval(mean, mean - half, mean + half, int(x.size))


def detectable_difference(values: Sequence[float], power: float = 0.8, confidence: float = CONFIDENCE) -> float | None:
    """The smallest true mean difference a paired t test on these K differences would detect with ``power``:
    (t_{1−α/2, K−1} + t_{power, K−1}) · s / √K, with s the observed spread. None with fewer than two values."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2:
        return None
    df = x.size - 1
    return float((stats.t.ppf(0.5 + confidence / 2, df) + stats.t.ppf(power, df)) * x.std(ddof=1) / math.sqrt(x.size))


def paired_difference(values: Sequence[float], baseline: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """CI of mean(values − baseline) over matched seeds."""
    a, b = np.asarray(values, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("paired values need the same seeds")
    return mean_ci(a - b, confidence)
