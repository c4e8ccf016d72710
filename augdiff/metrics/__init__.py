"""Generation-quality metrics computed fully offline: FID, KID, sFID, LPIPS diversity, a domain feature distance
and memorisation. ``evaluate_images(real, fake)`` is the library entry point; ``METRICS`` is the registry.
"""

from augdiff.metrics.evaluate import (
    DEFAULT_METRICS,
    EvaluationReport,
    evaluate_folders,
    evaluate_generator,
    evaluate_images,
    load_image_folder,
)
from augdiff.metrics.registry import METRICS, Metric, MetricUnavailable, register_metric

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "EvaluationReport",
    "Metric",
    "MetricUnavailable",
    "evaluate_folders",
    "evaluate_generator",
    "evaluate_images",
    "load_image_folder",
    "register_metric",
]
