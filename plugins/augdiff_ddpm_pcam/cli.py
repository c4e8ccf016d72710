"""``augdiff ablate ddpm-pcam``: the paper's schedule × attention ablation as a command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from augdiff.cli.options import Json, RunArgs, Set, command, console, emit_json, parse_overrides
from augdiff.progress import reporter

ABLATE = "ablate"


def _ablate_group(app: typer.Typer) -> typer.Typer:
    """The ``ablate`` group, shared with any other plugin that already added one."""
    for group in app.registered_groups:
        if group.name == ABLATE and group.typer_instance is not None:
            return group.typer_instance
    group = typer.Typer(help="Re-run a paper's ablation study.", no_args_is_help=True)
    app.add_typer(group, name=ABLATE)
    return group


@command
def ddpm_pcam(
    run: RunArgs = RunArgs(),
    cls: Annotated[
        str | None, typer.Option("--class", help="Class to train on \\[default: tumor, else the last class].")
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", help="Sample with DDIM in this many steps \\[default: ancestral].")
    ] = None,
    n_eval: Annotated[
        int | None,
        typer.Option("--n-eval", help="Held-out images scored (5 folds) \\[default: smoke 20, cpu 100, paper 1000]."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write report.md and ablation.json here.")
    ] = None,
    set_: Set = None,
    json_: Json = False,
) -> None:
    """DDPM-PCam Table 2: linear/cosine × none/self attention on one class, scored by SSIM and pixel BCE."""
    from augdiff_ddpm_pcam.ablation import run_ablation

    result = run_ablation(
        run.data, run.options(), profile=run.profile, seed=run.seed, cls=cls, runs_dir=run.runs_dir, out=out,
        sample_steps=steps, eval_images=n_eval, overrides=parse_overrides(set_), progress=reporter(not json_),
    )
    if json_:
        emit_json(result.to_dict())
        return
    console.print(_table(result))
    console.print(f"[green]report[/] {result.report}" + (f" and {out / 'report.md'}" if out else ""))


def register(app: typer.Typer) -> None:
    _ablate_group(app).command("ddpm-pcam")(ddpm_pcam)


def _table(result: Any) -> Table:
    from augdiff_ddpm_pcam.ablation import feature_text

    table = Table(
        title=f"DDPM-PCam ablation · {result.data} · class {result.class_name} · {result.eval_images} held-out "
        f"images in {result.folds} folds · {result.sampler}"
    )
    for name, justify in (("schedule", "left"), ("attention", "left"), ("parameters", "right"),
                          ("SSIM ↑", "right"), ("BCE ↓", "right"), ("FID/KID", "left"), ("s", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in result.rows:
        table.add_row(r.schedule, r.attention, f"{r.parameters:,}", f"{r.ssim:.4f} ± {r.ssim_std:.4f}",
                      f"{r.bce:.4f} ± {r.bce_std:.4f}", feature_text(r.features),
                      "reused" if r.reused else f"{r.seconds:.0f}")
    ref = result.reference
    table.add_row("real train", "", "", f"{ref['ssim']:.4f} ± {ref['ssim_std']:.4f}",
                  f"{ref['bce']:.4f} ± {ref['bce_std']:.4f}", "", "", style="dim")
    return table
