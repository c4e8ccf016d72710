"""The ``augdiff`` command line: thin commands that parse options and call one library function each."""

from __future__ import annotations

import os

import typer
from typer.core import TyperGroup

from augdiff.cli.options import err_console
from augdiff.errors import AugdiffError


class _Group(TyperGroup):
    """Turns :class:`AugdiffError` into one red line and exit code 2 (tracebacks only with AUGDIFF_DEBUG=1)."""

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except AugdiffError as exc:
            if os.environ.get("AUGDIFF_DEBUG"):
                raise
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True, markup=True)
            ctx.exit(exc.exit_code)


app = typer.Typer(
    cls=_Group,
    name="augdiff",
    help="Fit generators on a small histopathology set, generate (progressive) images, benchmark a classifier.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _build() -> None:
    from augdiff import plugins
    from augdiff.cli import augment, benchmark, data, evaluate, fit, listing

    for module in (listing, data, fit, augment, benchmark, evaluate):
        module.register(app)
    plugins.register_commands(app)


_build()


def main() -> None:
    app()
