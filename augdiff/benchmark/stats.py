"""Means with 95 % confidence intervals over seeds, and paired differences to the baseline.

With K seeds the interval is mean ± t_{0.975, K−1} · s / √K (Student t, s the sample standard deviation). Every
set is trained with the same K seeds, so seed k of a set and seed k of the baseline share initialisation, batch
order and augmentation stream; their difference removes that shared noise (a paired t interval).

With K fit seeds (``--fit-seeds``) a generated set's cells form a K × S table x_jk (fit seed j, classifier seed k,
the same S classifier seeds for every j). The interval then covers both sources of variance: with the K row
means (one per fit, over the classifier seeds) and the S column means (one per classifier seed, over the fits),

    se² = s²_rows / K + s²_cols / S,   df = se⁴ / ((s²_rows / K)² / (K − 1) + (s²_cols / S)² / (S − 1))

(Welch–Satterthwaite), and the interval is mean ± t_{0.975, df} · se. Under the two-way random-effects model
x_jk = μ + f_j + c_k + e_jk, E[se²] = Var(mean) + σ²_e / (KS): it never understates the variance, and it is
conservative by the interaction term only. With K = 1 it is exactly the interval over the classifier seeds above,
with S = 1 the t interval over the K fits. Paired differences use d_jk = x_jk − b_k (b_k: the baseline's
classifier seed k) in the same formula.
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


def _crossed_parts(x: np.ndarray) -> tuple[float, float, float]:
    """(se², df, mean) of a K × S table (K, S ≥ 2) as in the module docstring."""
    k, s = x.shape
    rows = float(x.mean(axis=1).var(ddof=1)) / k
    cols = float(x.mean(axis=0).var(ddof=1)) / s
    se2 = rows + cols
    denominator = rows**2 / (k - 1) + cols**2 / (s - 1)
    df = se2**2 / denominator if denominator > 0 else float(k * s - 1)
    return se2, df, float(x.mean())


def _table(values: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or x.size == 0:
        raise ValueError("expected a non-empty fit seeds × classifier seeds table")
    return x


def crossed_ci(values: Sequence[Sequence[float]] | np.ndarray, confidence: float = CONFIDENCE) -> Interval:
    """CI of the mean of a fit seeds × classifier seeds table, covering both sources of variance."""
    x = _table(values)
    k, s = x.shape
    if k == 1 or s == 1:  # one source only: the ordinary t interval over it (today's interval when k == 1)
        return mean_ci(x.ravel(), confidence)
    se2, df, mean = _crossed_parts(x)
    half = float(stats.t.ppf(0.5 + confidence / 2, df) * math.sqrt(se2))
    return Interval(mean, mean - half, mean + half, int(x.size))


def crossed_detectable(
    values: Sequence[Sequence[float]] | np.ndarray, power: float = 0.8, confidence: float = CONFIDENCE
) -> float | None:
    """:func:`detectable_difference` for a fit seeds × classifier seeds table of paired differences."""
    x = _table(values)
    if 1 in x.shape:
        return detectable_difference(x.ravel(), power, confidence)
    se2, df, _ = _crossed_parts(x)
    return float((stats.t.ppf(0.5 + confidence / 2, df) + stats.t.ppf(power, df)) * math.sqrt(se2))


def paired_difference(values: Sequence[float], baseline: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """CI of mean(values − baseline) over matched seeds."""
    a, b = np.asarray(values, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("paired values need the same seeds")
    return mean_ci(a - b, confidence)
