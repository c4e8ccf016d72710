"""The ``augdiff`` command line: thin commands that parse options and call one library function each."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text
from typer.core import TyperGroup

from augdiff.cli.options import err_console
from augdiff.errors import AugdiffError, internal_error_line, save_traceback
from augdiff.runstore import runs_root
from augdiff.threads import apply_threads, default_wait_policy

# OpenMP reads its wait policy once, when `import torch` loads it; the imports above are torch-free and
# create_app() below is where torch first loads, so this is the last moment it still takes effect.
default_wait_policy()


def _command_line_flow() -> tuple[type[BaseException], ...]:
    """How the command-line framework itself ends a command (``--help``, usage errors, aborts).

    typer ≥ 0.26 raises its own classes; older typer raises click's (click is then installed).
    """
    kinds: list[type[BaseException]] = [typer.Exit, typer.Abort]
    kinds += [k for k in (getattr(typer, "TyperException", None),) if k is not None]
    try:
        import click

        kinds += [click.exceptions.Exit, click.exceptions.Abort, click.exceptions.ClickException]
    except ImportError:
        pass
    return tuple(kinds)


_COMMAND_LINE_FLOW = _command_line_flow()


class _Group(TyperGroup):
    """Turns :class:`AugdiffError` into one red line and exit code 2 (tracebacks only with AUGDIFF_DEBUG=1)."""

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except AugdiffError as exc:
            if os.environ.get("AUGDIFF_DEBUG"):
                raise
            _one_line(str(exc))
            ctx.exit(exc.exit_code)
        except _COMMAND_LINE_FLOW:
            raise
        except Exception as exc:  # a bug, not the user's mistake: still one line, the traceback kept in a file
            if os.environ.get("AUGDIFF_DEBUG"):
                raise
            try:
                report: Path | None = save_traceback(exc, runs_root() / "crash-reports")
            except OSError:
                report = None
            _one_line(internal_error_line(exc, report))
            ctx.exit(1)


def _one_line(message: str) -> None:
    err_console.print(Text.assemble(("error: ", "bold red"), message), highlight=False, soft_wrap=True)


def _version() -> str:
    """The installed distribution's version; a source tree that was never installed falls back to the package's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("augdiff")
    except PackageNotFoundError:
        from augdiff import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"augdiff {_version()}")
        raise typer.Exit()


def _root_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print augdiff's version and exit."
        ),
    ] = False,
) -> None:
    """Fit generators on a small histopathology set, generate (progressive) images, benchmark a classifier."""
    apply_threads()  # AUGDIFF_THREADS; a bad value is one red line (raised inside _Group.invoke)


def create_app() -> typer.Typer:
    """Build the CLI: core commands, then whatever plugins add through ``register_commands``."""
    from augdiff import plugins
    from augdiff.cli import augment, benchmark, classifier, data, evaluate, fit, listing

    app = typer.Typer(
        cls=_Group,
        name="augdiff",
        help="Fit generators on a small histopathology set, generate (progressive) images, benchmark a classifier.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    app.callback()(_root_options)
    for module in (listing, data, fit, augment, benchmark, evaluate, classifier):
        module.register(app)
    plugins.register_commands(app)
    return app


app = create_app()


def main() -> None:
    app()
