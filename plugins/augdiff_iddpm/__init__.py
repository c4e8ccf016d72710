"""augdiff plugin ``iddpm``: Improved DDPM baseline (Nichol & Dhariwal 2021) on the shared diffusion core."""

from __future__ import annotations

from collections.abc import Callable

from augdiff.hookspecs import hookimpl


@hookimpl
def register_generators(register: Callable[[type], None]) -> None:
    from augdiff_iddpm.generator import IDDPM

    register(IDDPM)
