"""``augdiff augment``: write a generated set (PNGs + manifest.jsonl) from a fitted generator."""

from __future__ import annotations

from pathlib import Path
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


@command
def augment(
    generator: Annotated[str, typer.Option("--generator", help="Generator name (see `augdiff list`).")],
    n: Annotated[int, typer.Option("--n", help="Number of images to generate.")] = 500,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder: new, empty, or this command's earlier set "
                                   "\\[default: in the runs folder]."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the augdiff set already at --out (never other files).")
    ] = False,
    cls: Annotated[str | None, typer.Option("--class", help="Generate only this class.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Sampling steps (DDIM respacing).")] = None,
    run: RunArgs = RunArgs(),
    set_: Set = None,
    device: Device = None,
    json_: Json = False,
) -> None:
    """Generate --n images with --generator (fitting it first if needed) into --out."""
    device = checked_device(device)
    overrides = parse_overrides(set_)
    if steps is not None:
        overrides["sample_steps"] = steps
    workflow.check_request(n, overrides.get("sample_steps"))  # before the data is loaded
    plan = run.plan(device).generator(generator, overrides)
    result = workflow.augment(plan, n=n, out=out, force=force, cls=cls, progress=reporter(not json_))
    summary = {"generator": generator, "out": str(result.out_dir), "n": len(result.generated),
               "counts": result.counts, "run_dir": str(result.run_dir) if result.run_dir else None,
               "seconds": result.seconds, "reused": result.reused, "resumed_chunks": result.resumed_chunks}
    if json_:
        emit_json(summary)
    elif result.reused:
        console.print(f"[green]already generated[/] {len(result.generated)} images in {result.out_dir} "
                      f"{result.counts} (--force to generate again)", highlight=False)
    else:
        resumed = f" (resumed: {result.resumed_chunks} chunks were already done)" if result.resumed_chunks else ""
        console.print(f"[green]wrote[/] {len(result.generated)} images to {result.out_dir} {result.counts}"
                      f"{resumed}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("augment")(augment)
