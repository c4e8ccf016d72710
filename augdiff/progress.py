"""Progress reporting that library code can use without knowing whether a terminal is attached."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

_stderr = Console(stderr=True)


def note(message: str) -> None:
    """One line for the person at the terminal, on stderr (stdout stays machine-readable under ``--json``)."""
    _stderr.print(Text.assemble(("note: ", "cyan"), message), highlight=False, soft_wrap=True)


class Task(Protocol):
    def advance(self, n: float = 1, **info: Any) -> None: ...


class Reporter(Protocol):
    """What ``fit``/``generate`` receive as ``progress``: opens one task per long loop."""

    def task(self, description: str, total: float | None) -> contextlib.AbstractContextManager[Task]: ...


class _NullTask:
    def advance(self, n: float = 1, **info: Any) -> None:
        pass


class NullReporter:
    """For tests and ``--json`` runs: reports nothing."""

    @contextlib.contextmanager
    def task(self, description: str, total: float | None) -> Iterator[Task]:
        yield _NullTask()


class _RichTask:
    def __init__(self, progress: Progress, task_id: Any) -> None:
        self._progress, self._id = progress, task_id

    def advance(self, n: float = 1, **info: Any) -> None:
        text = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items())
        self._progress.update(self._id, advance=n, info=text)


class RichReporter:
    """Rich progress bars on stderr, one line per open task, with free-form info (loss, img/s)."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console or Console(stderr=True)

    @contextlib.contextmanager
    def task(self, description: str, total: float | None) -> Iterator[Task]:
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
        )
        with Progress(*columns, console=self._console, transient=False) as progress:
            task_id = progress.add_task(description, total=total, info="")
            yield _RichTask(progress, task_id)


class PrefixedReporter:
    """Names a part of a larger job in every task it opens ("tumor: training")."""

    def __init__(self, inner: Reporter, prefix: str) -> None:
        self.inner, self.prefix = inner, prefix

    def task(self, description: str, total: float | None) -> contextlib.AbstractContextManager[Task]:
        return self.inner.task(f"{self.prefix}: {description}", total)


def reporter(enabled: bool) -> Reporter:
    return RichReporter() if enabled else NullReporter()
