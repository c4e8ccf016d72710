"""Test/validation metrics from torchmetrics: accuracy, F1 of the positive class, macro-F1, AUROC.

"Positive" is class index 1 (tumor in pcam-mini; the second class of every binary augdiff dataset). With more
than two classes there is no single positive class, so ``f1`` is the macro average, as is AUROC.
"""

from __future__ import annotations

import torch
from torchmetrics.functional.classification import (
    binary_auroc,
    multiclass_accuracy,
    multiclass_auroc,
    multiclass_f1_score,
)

POSITIVE = 1
METRICS = ("accuracy", "f1", "macro_f1", "auroc")


def classification_metrics(probs: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """``probs`` (N, C) softmax outputs, ``target`` (N,) integer labels → the four metrics in [0, 1]."""
    num_classes = probs.shape[1]
    preds = probs.argmax(1)
    per_class_f1 = multiclass_f1_score(preds, target, num_classes=num_classes, average="none")
    if num_classes == 2:
        f1 = per_class_f1[POSITIVE]
        auroc = binary_auroc(probs[:, POSITIVE], target)
    else:
        f1 = per_class_f1.mean()
        auroc = multiclass_auroc(probs, target, num_classes=num_classes, average="macro")
    return {
        "accuracy": float(multiclass_accuracy(preds, target, num_classes=num_classes, average="micro")),
        "f1": float(f1),
        "macro_f1": float(per_class_f1.mean()),
        "auroc": float(auroc),
    }
