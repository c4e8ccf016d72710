"""Registers augdiff's built-in classifiers: the named ViTs and a test-scale one (any timm name also works)."""

from __future__ import annotations

from collections.abc import Callable

from augdiff.classify.catalog import builtin_specs
from augdiff.classify.spec import ClassifierSpec
from augdiff.hookspecs import hookimpl


@hookimpl
def register_classifiers(register: Callable[[ClassifierSpec], None]) -> None:
    for spec in builtin_specs():
        register(spec)
