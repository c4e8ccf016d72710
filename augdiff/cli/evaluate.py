"""``augdiff evaluate``: FID, KID, sFID, LPIPS diversity, domain distance and memorisation, fully offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

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
from augdiff.devices import metrics_device
from augdiff.errors import AugdiffError
from augdiff.progress import reporter


@command
def evaluate(
    generator: Annotated[
        str | None, typer.Option("--generator", help="Generate with this generator and compare with --data.")
    ] = None,
    real: Annotated[Path | None, typer.Option("--real", help="Folder of real images (instead of --generator).")] = None,
    fake: Annotated[Path | None, typer.Option("--fake", help="Folder of generated images, with --real.")] = None,
    n: Annotated[int | None, typer.Option("--n", help="Images to generate \\[default: 500 per class].")] = None,
    n_real: Annotated[
        int | None, typer.Option("--n-real", help="Use a seeded random subset of this many real images.")
    ] = None,
    metrics: Annotated[
        str | None, typer.Option("--metrics", help="Comma-separated subset \\[default: all; see docs/metrics.md].")
    ] = None,
    inception: Annotated[
        Path | None, typer.Option("--inception", help="Inception TorchScript file; TorchScript is code, so only "
                                  "pass files you trust \\[default: $AUGDIFF_INCEPTION, else the one bundled "
                                  "by augdiff\\[fid]].")
    ] = None,
    lpips_backbone: Annotated[
        Path | None, typer.Option("--lpips-backbone", help="torchvision ImageNet weights of the LPIPS trunk.")
    ] = None,
    lpips_net: Annotated[str, typer.Option("--lpips-net", help="LPIPS trunk: alex, vgg or squeeze.")] = "alex",
    domain_steps: Annotated[
        int, typer.Option("--domain-steps", help="Training steps of the domain feature classifier.")
    ] = 200,
    device: Device = None,
    run: RunArgs = RunArgs(),
    set_: Set = None,
    json_: Json = False,
) -> None:
    """Compare generated with real images: --generator NAME against the training split of --data, or --real DIR
    against --fake DIR."""
    from augdiff import metrics as m
    from augdiff.metrics.evaluate import resolve_metrics

    device = checked_device(device)
    chosen = [s.strip() for s in metrics.split(",") if s.strip()] if metrics else None
    kw: dict[str, Any] = {"inception": inception, "lpips_backbone": lpips_backbone, "lpips_net": lpips_net,
                          "domain_steps": domain_steps}
    # The metrics keep the CPU unless --device is given (the generator then runs there too).
    common = {"n_real": n_real, "metrics": chosen, "device": metrics_device(device), "progress": reporter(not json_)}
    if generator is not None and (real is not None or fake is not None):
        raise AugdiffError("--generator cannot be combined with --real/--fake: choose one way to evaluate")
    if generator is not None:
        resolve_metrics(chosen)  # a typo fails before the data is loaded
        plan = run.plan(device).generator(generator, parse_overrides(set_))
        report = workflow.evaluate(plan, n=n, **common, **kw)
    elif real is not None and fake is not None:
        report = m.evaluate_folders(real, fake, seed=run.seed, runs_dir=run.runs_dir, **common, **kw)
    else:
        raise AugdiffError("evaluate needs --generator NAME, or both --real DIR and --fake DIR")
    if json_:
        emit_json(report.to_dict())
    else:
        _print(report)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)


def _value(result: dict[str, Any]) -> str:
    if "unavailable" in result:
        return "[yellow]unavailable[/]"
    text = f"{result['value']:.4g}"
    return text + (f" ± {result['std']:.2g}" if "std" in result else "")


def _print(report: Any) -> None:
    table = Table(title=f"{report.n_fake} generated vs {report.n_real} real images")
    for col in ("metric", "value", "n real / fake"):
        table.add_column(col, no_wrap=True)
    table.add_column("notes", overflow="fold")
    for name, result in report.metrics.items():
        notes = [result["unavailable"]] if "unavailable" in result else []
        notes += [result["note"]] if "note" in result else []
        notes += result.get("warnings", [])
        counts = f"{result.get('n_real', '-')} / {result.get('n_fake', '-')}"
        table.add_row(name, _value(result), counts, "\n".join(notes))
    console.print(table)
    png = report.metrics.get("memorisation", {}).get("png")
    if png:
        console.print(f"closest pairs → {png}")
    console.print(f"[green]report[/] → {report.run_dir / 'metrics.json'}")
