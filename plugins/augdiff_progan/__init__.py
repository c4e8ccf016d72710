"""augdiff plugin ``progan``: progressive-growing GAN baseline (Karras et al. 2018)."""

from __future__ import annotations

from collections.abc import Callable

from augdiff.hookspecs import hookimpl


@hookimpl
def register_generators(register: Callable[[type], None]) -> None:
    from augdiff_progan.generator import ProGAN

    register(ProGAN)
