"""Shared test helpers for the metric tests."""

from __future__ import annotations

from pathlib import Path

import torch


class PoolOnly(torch.nn.Module):
    """A stand-in feature network with only a pool3-like output: no mixed_6/conv to read sFID from."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.nn.functional.adaptive_avg_pool2d(x, 8).flatten(1)  # (N, 192)
        return torch.cat([pooled] * 11, 1)[:, :2048] * torch.linspace(0.5, 1.5, 2048)


def save_pool_only(path: Path) -> Path:
    torch.jit.script(PoolOnly()).save(str(path))
    return path
