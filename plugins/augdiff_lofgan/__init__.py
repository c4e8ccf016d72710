"""augdiff plugin ``lofgan``: LoFGAN few-shot baseline (Gu et al., ICCV 2021)."""

from __future__ import annotations

from collections.abc import Callable

from augdiff.hookspecs import hookimpl


@hookimpl
def register_generators(register: Callable[[type], None]) -> None:
    from augdiff_lofgan.generator import LoFGAN

    register(LoFGAN)
