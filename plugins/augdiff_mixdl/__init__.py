"""augdiff plugin ``mixdl``: GAN with mixup-based distance learning (Kong et al., ECCV 2022)."""

from __future__ import annotations

from collections.abc import Callable

from augdiff.hookspecs import hookimpl


@hookimpl
def register_generators(register: Callable[[type], None]) -> None:
    from augdiff_mixdl.generator import MixDL

    register(MixDL)
