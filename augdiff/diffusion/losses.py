"""Denoising losses: draw t and ε with the trainer's generator, regress the prediction target."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from augdiff.diffusion.schedules import NoiseSchedule

LOSSES = ("mse", "huber")


def sample_timesteps(
    schedule: NoiseSchedule, batch: int, generator: torch.Generator, device: torch.device
) -> Tensor:
    """t ~ U{0, …, T−1}, drawn on the generator's device and moved to ``device``."""
    t = torch.randint(0, schedule.num_train_timesteps, (batch,), generator=generator, device=generator.device)
    return t.to(device)


def epsilon_loss(
    model: Any,
    schedule: NoiseSchedule,
    x0: Tensor,
    generator: torch.Generator,
    *,
    loss: str = "mse",
    prediction_type: str = "epsilon",
    model_kwargs: dict[str, Any] | None = None,
) -> Tensor:
    """L_simple (DDPM Eq. 14): E_{t, ε} ‖target − model(x_t, t)‖², or the Huber (smooth-L1) variant.

    The target is ε, v or x_0 according to ``prediction_type``; only the first C output channels are used, so
    a learned-variance model can share this term.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    t = sample_timesteps(schedule, x0.shape[0], generator, x0.device)
    noise = torch.randn(x0.shape, generator=generator, device=generator.device, dtype=torch.float32).to(x0)
    x_t = schedule.add_noise(x0, noise, t)
    out = model(x_t, t, **(model_kwargs or {})).float()[:, : x0.shape[1]]
    target = schedule.training_target(x0, noise, t, prediction_type).float()
    if loss == "mse":
        return F.mse_loss(out, target)
    return F.smooth_l1_loss(out, target)


class DiffusionLoss:
    """A ``loss_fn(model, batch, generator)`` for the Trainer: batches are images or ``(images, labels)``.

    With ``class_conditional`` the labels are passed to the model as ``y=``.
    """

    def __init__(
        self,
        schedule: NoiseSchedule,
        *,
        loss: str = "mse",
        prediction_type: str = "epsilon",
        class_conditional: bool = False,
    ) -> None:
        self.schedule, self.loss, self.prediction_type = schedule, loss, prediction_type
        self.class_conditional = class_conditional

    def __call__(self, model: Any, batch: Any, generator: torch.Generator) -> Tensor:
        images, labels = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
        kwargs = {"y": labels} if self.class_conditional else None
        return epsilon_loss(
            model,
            self.schedule,
            images,
            generator,
            loss=self.loss,
            prediction_type=self.prediction_type,
            model_kwargs=kwargs,
        )
