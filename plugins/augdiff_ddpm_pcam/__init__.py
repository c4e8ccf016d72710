"""DDPM-PCam (Denoising Diffusion Probabilistic Models for Synthetic Histopathologic Image Generation): one
unconditional DDPM per class with the paper's plain U-Net, and the paper's schedule × attention ablation
(``augdiff ablate ddpm-pcam``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from augdiff.hookspecs import hookimpl


@hookimpl
def register_generators(register: Callable[[type], None]) -> None:
    from augdiff_ddpm_pcam.generator import DDPMPCam

    register(DDPMPCam)


@hookimpl
def register_commands(app: Any) -> None:
    from augdiff_ddpm_pcam.cli import register

    register(app)
