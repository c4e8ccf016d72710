"""Fitting one domain model of ADD: L_simple on ε with the shared trainer, EMA weights returned."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from augdiff.diffusion.data import ImageTensorDataset
from augdiff.diffusion.losses import DiffusionLoss
from augdiff.diffusion.schedules import make_schedule
from augdiff.progress import NullReporter, PrefixedReporter, Reporter
from augdiff.training import TrainConfig, Trainer

# Config keys of the add profiles handed to TrainConfig unchanged.
_TRAIN_KEYS = ("steps", "batch_size", "lr", "warmup_steps", "ema_decay", "grad_clip", "precision", "checkpoint_every")


def train_config(config: dict[str, Any], num_images: int) -> TrainConfig:
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    kwargs = {k: config[k] for k in _TRAIN_KEYS if k in fields and k in config}
    kwargs["batch_size"] = max(1, min(int(kwargs.get("batch_size", 1)), num_images))
    if "device" in fields:
        kwargs["device"] = "auto" if config.get("device", "auto") == "auto" else config["device"]
    return TrainConfig(**kwargs)


def train_domain_model(
    model: nn.Module,
    images: np.ndarray,
    config: dict[str, Any],
    workdir: Path,
    *,
    seed: int,
    progress: Reporter = NullReporter(),
    description: str = "add",
) -> nn.Module:
    """Train ``model`` on one domain's uint8 images (resuming from ``workdir``) and return its EMA copy on CPU."""
    schedule = make_schedule(config["schedule"], int(config["num_train_timesteps"]))
    dataset = ImageTensorDataset(images, hflip=bool(config.get("hflip", True)))
    trainer = Trainer(
        model, DiffusionLoss(schedule), dataset, train_config(config, len(images)), Path(workdir), seed=seed,
        progress=PrefixedReporter(progress, description),
    )
    trainer.fit()
    return trainer.ema_model.cpu().eval()

