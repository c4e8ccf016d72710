"""The trainer's settings: a plain, JSON-able dataclass that generator profiles fill in."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from augdiff.devices import parse_device
from augdiff.errors import AugdiffError
from augdiff.training.precision import PRECISIONS

T = TypeVar("T")

LR_SCHEDULES = ("constant", "cosine")
OPTIMIZERS = ("adamw", "adam")


@dataclass
class TrainConfig:
    """Budget, optimiser, EMA, precision and checkpointing of one training run.

    Give exactly one of ``steps`` (optimiser steps) or ``epochs``. ``batch_size`` is the global batch; under
    torchrun each of the N processes takes ``batch_size / N``.
    """

    steps: int | None = None
    epochs: int | None = None
    batch_size: int = 64
    lr: float = 2e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    ema_decay: float = 0.999
    ema_warmup: bool = True
    grad_clip: float | None = 1.0
    precision: str = "auto"
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    device: str = "auto"
    warmup_steps: int = 0
    lr_schedule: str = "constant"
    optimizer: str = "adamw"
    log_every: int = 10
    num_workers: int = 0

    def __post_init__(self) -> None:
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        self.validate()

    def validate(self) -> None:
        def bad(option: str, why: str) -> AugdiffError:
            return AugdiffError(f"training option '{option}'={getattr(self, option)!r}: {why}")

        if (self.steps is None) == (self.epochs is None):
            raise AugdiffError("training options: give exactly one of 'steps' or 'epochs' as the budget")
        if self.steps is not None and self.steps < 1:
            raise bad("steps", "must be ≥ 1")
        if self.epochs is not None and self.epochs < 1:
            raise bad("epochs", "must be ≥ 1")
        for name in ("batch_size", "checkpoint_every", "keep_checkpoints", "log_every"):
            if int(getattr(self, name)) < 1:
                raise bad(name, "must be ≥ 1")
        if self.lr <= 0:
            raise bad("lr", "must be > 0")
        if not 0.0 <= self.ema_decay <= 1.0:
            raise bad("ema_decay", "must be in [0, 1]")
        if self.grad_clip is not None and self.grad_clip < 0:
            raise bad("grad_clip", "must be ≥ 0 (0 or null disables clipping)")
        if self.warmup_steps < 0 or self.num_workers < 0:
            raise bad("warmup_steps" if self.warmup_steps < 0 else "num_workers", "must be ≥ 0")
        for name, allowed in (
            ("precision", PRECISIONS),
            ("lr_schedule", LR_SCHEDULES),
            ("optimizer", OPTIMIZERS),
        ):
            if getattr(self, name) not in allowed:
                raise bad(name, f"choose one of {', '.join(allowed)}")
        # Any torch device name (cuda:1, mps); whether this machine has it is checked when training starts.
        parse_device(self.device, "training option 'device'")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise AugdiffError(
                f"training options: unknown {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**data)


def settings_from_config(cls: type[T], config: dict[str, Any], tuples: dict[str, type] | None = None) -> T:
    """A trainer-settings dataclass from a plugin config: only its own fields are taken, and the ``tuples`` keys
    (JSON lists in a saved config) become tuples of the given element type."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    values = {k: v for k, v in config.items() if k in known}
    for key, kind in (tuples or {}).items():
        if key in values:
            values[key] = tuple(kind(v) for v in values[key])
    return cls(**values)
