"""The hooks a plugin may implement. Each receives a ``register`` callable (or the CLI app) and calls it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("augdiff")
hookimpl = pluggy.HookimplMarker("augdiff")


@hookspec
def register_generators(register: Callable[[type], None]) -> None:
    """Call ``register(GeneratorClass)`` for each :class:`augdiff.generator.Generator` subclass."""


@hookspec
def register_datasets(register: Callable[[Any], None]) -> None:
    """Call ``register(DatasetSpec(...))`` for each dataset (see :mod:`augdiff.data.spec`)."""


@hookspec
def register_classifiers(register: Callable[[Any], None]) -> None:
    """Call ``register(ClassifierSpec(...))`` for each downstream classifier (see :mod:`augdiff.classify.spec`)."""


@hookspec
def register_commands(app: Any) -> None:
    """Add commands to the ``augdiff`` Typer app: ``@app.command()`` or ``app.add_typer(...)``."""
