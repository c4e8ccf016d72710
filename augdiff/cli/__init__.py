"""The ``augdiff`` command line: thin commands that parse options and call one library function each."""

from __future__ import annotations

import os

import typer
from rich.text import Text
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
            err_console.print(Text.assemble(("error: ", "bold red"), str(exc)), highlight=False, soft_wrap=True)
            ctx.exit(exc.exit_code)


def create_app() -> typer.Typer:
    """Build the CLI: core commands, then whatever plugins add through ``register_commands``."""
    from augdiff import plugins
    from augdiff.cli import augment, benchmark, data, evaluate, fit, listing

    app = typer.Typer(
        cls=_Group,
        name="augdiff",
        help="Fit generators on a small histopathology set, generate (progressive) images, benchmark a classifier.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    for module in (listing, data, fit, augment, benchmark, evaluate):
        module.register(app)
    plugins.register_commands(app)
    return app


app = create_app()


def main() -> None:
    app()
