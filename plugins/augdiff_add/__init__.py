"""ADD and ADD-Pro generators (Liu et al., MICCAI 2024): a two-domain DDIM bridge with hybrid attention,
adaptive depth control by feature measuring, and progressive soft-labelled samples."""

from __future__ import annotations

from collections.abc import Callable

from augdiff.hookspecs import hookimpl


@hookimpl
def register_generators(register: Callable[[type], None]) -> None:
    from augdiff_add.generator import AddGenerator, AddProGenerator

    register(AddGenerator)
    register(AddProGenerator)
