"""``augdiff fit GENERATOR``: train a generator on a dataset's training split (resumes if interrupted)."""

from __future__ import annotations

from typing import Annotated

import typer

from augdiff import workflow
from augdiff.cli.options import Json, RunArgs, Set, command, console, emit_json, parse_overrides
from augdiff.progress import reporter


@command
def fit(
    generator: Annotated[str, typer.Argument(help="Generator name (see `augdiff list`).")],
    run: RunArgs = RunArgs(),
    set_: Set = None,
    json_: Json = False,
) -> None:
    """Fit GENERATOR on the training split of --data; re-running continues from the last checkpoint."""
    plan = run.plan().generator(generator, parse_overrides(set_))
    result = workflow.fit(plan, progress=reporter(not json_))
    summary = {"generator": generator, "fitted": result.fitted, "run_dir": str(result.run_dir),
               "reused": result.reused, "data_fingerprint": result.data_fingerprint}
    if json_:
        emit_json(summary)
    else:
        verb = "already fitted" if result.reused else "fitted"
        console.print(f"[green]{verb}[/] {result.fitted} on {run.data} → {result.run_dir}")


def register(app: typer.Typer) -> None:
    app.command("fit")(fit)
