"""A real-data teacher for generated images: keep only those whose label it finds plausible, or relabel them.

The teacher is the benchmark's own classifier recipe trained on the real training split alone (selected on the
real validation split; the test split is never read). Generated images whose soft label the real data does not
support are label noise in the direction that costs accuracy (docs/results.md: ADD-Pro's Eq. 9 labels and a
real-only classifier's tumour probability are uncorrelated on pcam-mini), so two rules are offered:

- ``filter``: keep a generated image only if, for every class, its label and the teacher's probability differ by
  at most ``tolerance`` (for two classes: |y_target − p_target| ≤ tolerance). This is the confidence filter of
  Diff-Mix / "Is synthetic data ready for image recognition?" (He et al., ICLR 2023), applied to soft labels.
- ``relabel``: replace each generated image's label by the teacher's probabilities (knowledge distillation on
  the generated inputs, as in pseudo-labelling).

One teacher serves every cell of a benchmark, so every classifier seed sees the same filtered set and the paired
differences stay paired. Its weights are cached in ``OUT/teacher/`` under a key of everything that decides them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from augdiff.classify.train import ClassifierConfig, evaluate, predict, train_classifier
from augdiff.data.spec import Dataset
from augdiff.errors import AugdiffError
from augdiff.generator import one_hot
from augdiff.runstore import config_hash
from augdiff.seeding import derive_seed
from augdiff.weights import load_weights, save_weights

MODES = ("filter", "relabel")
DEFAULT_TOLERANCE = 0.5


@dataclass(frozen=True)
class TeacherRule:
    mode: str  # "filter" | "relabel"
    tolerance: float = DEFAULT_TOLERANCE  # filter only: the largest |label − teacher probability| kept

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise AugdiffError(f"--teacher {self.mode}: choose one of none, {', '.join(MODES)}")
        if not 0.0 < self.tolerance <= 1.0:
            raise AugdiffError(f"--teacher-tolerance {self.tolerance}: must lie in (0, 1]")

    @property
    def tag(self) -> str:
        """How the rule appears in a cell's regime (and its folder name)."""
        return f"filter{self.tolerance:g}" if self.mode == "filter" else "relabel"

    def apply(self, labels: np.ndarray, teacher_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(keep mask, labels to train on) for generated ``labels`` (N, C) given the teacher's (N, C)."""
        if self.mode == "relabel":
            return np.ones(len(labels), dtype=bool), teacher_probs.astype(np.float32)
        # A small epsilon so that a tolerance of exactly the gap (e.g. 0.5 vs 0.5) keeps the image.
        keep = np.abs(labels - teacher_probs).max(axis=1) <= self.tolerance + 1e-6
        return keep, labels


def parse_rule(mode: str | None, tolerance: float = DEFAULT_TOLERANCE) -> TeacherRule | None:
    """``--teacher`` and ``--teacher-tolerance`` as a rule; ``none``/None is no teacher."""
    if mode is None or mode == "none":
        return None
    return TeacherRule(mode, tolerance)


class Teacher:
    """The real-only classifier, trained at most once per benchmark folder and scoring generated images."""

    def __init__(self, build: Callable[[], nn.Module], dataset: Dataset, config: ClassifierConfig, *, seed: int,
                 folder: Path, key_parts: tuple[object, ...] = ()) -> None:
        self._build, self._dataset, self._config = build, dataset, config
        self.seed = derive_seed(seed, "teacher") % (1 << 31)
        key = config_hash(config.to_dict(), dataset.train.fingerprint(), dataset.val.fingerprint(), self.seed,
                          *key_parts)
        self.path = Path(folder) / f"teacher-{key}.safetensors"
        self._model: nn.Module | None = None

    def model(self) -> nn.Module:
        if self._model is None:
            if self.path.is_file():
                self._model = load_weights(self._build(), self.path, refit="augdiff benchmark --teacher …")
            else:
                train = self._dataset.train
                outcome = train_classifier(self._build, train.images, one_hot(train.labels, len(train.classes)),
                                           self._dataset.val, self._config, seed=self.seed, description="teacher")
                save_weights(self.path, outcome.model)
                self._model = outcome.model
        return self._model

    def probs(self, images: np.ndarray) -> np.ndarray:
        return predict(self.model(), images, self._config).numpy()

    def describe(self, rule: TeacherRule) -> str:
        acc = evaluate(self.model(), self._dataset.val, self._config)["accuracy"]
        what = (f"kept generated images whose label is within {rule.tolerance:g} of its probabilities"
                if rule.mode == "filter" else "relabelled every generated image with its probabilities")
        return (f"teacher: {self._config.classifier} trained on the real training split alone (seed {self.seed}, "
                f"validation accuracy {100 * acc:.1f} %) {what}")
