"""``augdiff fit GENERATOR``: train a generator on a dataset's training split (resumes if interrupted)."""

from __future__ import annotations

from typing import Annotated

import typer

from augdiff import workflow
from augdiff.cli.options import (
    Device,
    Json,
    RunArgs,
    Set,
    checked_device,
    command,
    console,
    emit_json,
    parse_overrides,
)
from augdiff.progress import reporter
from augdiff.training import distributed


@command(torchrun=True)  # add, ddpm-pcam and iddpm share their training over torchrun's processes
def fit(
    generator: Annotated[str, typer.Argument(help="Generator name (see `augdiff list`).")],
    run: RunArgs = RunArgs(),
    set_: Set = None,
    device: Device = None,
    json_: Json = False,
) -> None:
    """Fit GENERATOR on the training split of --data; re-running continues from the last checkpoint."""
    plan = run.plan(checked_device(device)).generator(generator, parse_overrides(set_))
    result = workflow.fit(plan, progress=reporter(not json_))
    if not distributed.launched().is_main:
        return  # under torchrun rank 0 reports for everyone
    summary = {"generator": generator, "fitted": result.fitted, "run_dir": str(result.run_dir),
               "reused": result.reused, "data_fingerprint": result.data_fingerprint}
    if json_:
        emit_json(summary)
    else:
        verb = "already fitted" if result.reused else "fitted"
        console.print(f"[green]{verb}[/] {result.fitted} on {run.data} → {result.run_dir}")


def register(app: typer.Typer) -> None:
    app.command("fit")(fit)
