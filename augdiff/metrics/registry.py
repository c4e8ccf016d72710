"""The metric registry: each metric is a function of a shared :class:`~augdiff.metrics.evaluate.EvalContext`.

A metric returns a JSON-able dict (its value(s), the sample counts, and how it was computed) or raises
:class:`MetricUnavailable` with the reason, which the orchestrator reports as ``{"unavailable": reason}`` so the
other metrics still run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from augdiff.metrics.evaluate import EvalContext


class MetricUnavailable(Exception):
    """This metric cannot be computed here (missing weights, missing labels, ...); the message says why and how."""


MetricFn = Callable[["EvalContext"], dict[str, Any]]


@dataclass(frozen=True)
class Metric:
    name: str
    description: str
    compute: MetricFn
    lower_is_better: bool | None  # None: not a quality score (e.g. memorisation shares are read as a warning)


METRICS: dict[str, Metric] = {}


def register_metric(
    name: str, description: str, *, lower_is_better: bool | None
) -> Callable[[MetricFn], MetricFn]:
    def wrap(fn: MetricFn) -> MetricFn:
        if name in METRICS:
            raise ValueError(f"metric '{name}' registered twice")
        METRICS[name] = Metric(name, description, fn, lower_is_better)
        return fn

    return wrap
