"""An exponential moving average of a model's weights, kept as a separate module used for sampling."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """``shadow = decay · shadow + (1 − decay) · weights`` after every optimiser step.

    Floating-point buffers (e.g. BatchNorm running statistics) are averaged the same way so they stay matched
    to the averaged weights; integer buffers (``num_batches_tracked``) are copied. With ``warmup`` the decay
    starts low, min(decay, (1 + n)/(10 + n)) after n updates (the ``num_updates`` rule of TensorFlow's
    ExponentialMovingAverage), so short runs do not sample from nearly untrained initial weights.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: bool = True) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"ema decay must be in [0, 1], got {decay}")
        self.decay, self.warmup = float(decay), bool(warmup)
        self.model = copy.deepcopy(model).eval()
        self.model.requires_grad_(False)
        self.num_updates = 0

    def current_decay(self) -> float:
        if not self.warmup:
            return self.decay
        return min(self.decay, (1.0 + self.num_updates) / (10.0 + self.num_updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = self.current_decay()
        source = model.state_dict()
        shadows, values = [], []
        for name, shadow in self.model.state_dict().items():
            value = source[name].detach()
            if shadow.is_floating_point():
                shadows.append(shadow)
                values.append(value.to(shadow.dtype))
            else:
                shadow.copy_(value)
        if shadows:  # one fused kernel per dtype/device instead of one call per tensor
            torch._foreach_lerp_(shadows, values, 1.0 - decay)
        self.num_updates += 1

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "num_updates": self.num_updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.num_updates = int(state["num_updates"])
