"""A tiny denoiser and data set for the trainer tests, shared by the tests and the subprocess script."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from augdiff.diffusion import DiffusionLoss, ImageTensorDataset, make_schedule
from augdiff.training import TrainConfig, Trainer


class TinyDenoiser(nn.Module):
    """Two convolutions with a BatchNorm (whose buffers the EMA must carry) and a learned time embedding."""

    def __init__(self, steps: int = 50, width: int = 16) -> None:
        super().__init__()
        self.inp = nn.Conv2d(3, width, 3, padding=1)
        self.norm = nn.BatchNorm2d(width)
        self.time = nn.Embedding(steps, width)
        self.out = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm(self.inp(x)) + self.time(t)[:, :, None, None])
        return self.out(h)


def toy_images(n: int = 32, size: int = 8, seed: int = 0) -> np.ndarray:
    """Smooth two-colour gradients: structured enough that a denoiser's loss drops quickly."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, size)[None, :, None, None]
    a, b = rng.random((n, 1, 1, 3)), rng.random((n, 1, 1, 3))
    images = a * ramp + b * (1 - ramp)
    images = np.broadcast_to(images, (n, size, size, 3))
    return (images * 255).round().astype(np.uint8)


def make_trainer(workdir: Path, *, seed: int = 0, loss_fn=None, **config) -> Trainer:
    torch.manual_seed(1234)  # the model's initial weights
    schedule = make_schedule("linear", 50)
    settings = {
        "steps": 30,
        "batch_size": 8,
        "lr": 3e-3,
        "checkpoint_every": 5,
        "log_every": 5,
        "ema_decay": 0.99,
    }
    if "epochs" in config:
        settings.pop("steps")
    settings.update(config)
    dataset = ImageTensorDataset(toy_images(), hflip=True)
    return Trainer(
        TinyDenoiser(),
        loss_fn or DiffusionLoss(schedule),
        dataset,
        TrainConfig(**settings),
        workdir,
        seed=seed,
    )
