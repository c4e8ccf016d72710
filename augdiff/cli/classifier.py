"""``augdiff classifier export-weights``: timm weights on disk → the file ``benchmark --pretrained`` takes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from augdiff.cli.options import Json, console, emit_json

DEFAULT_SIZE = 32  # the cpu profile's classifier input size (the default profile)


def export_weights(
    model: Annotated[str, typer.Argument(
        help="Classifier the benchmark will build: a registered name (vit_base, …) or any timm name, as "
        "--classifier.", show_default=False)],
    from_: Annotated[Path, typer.Option(
        "--from", help="Checkpoint downloaded elsewhere: .safetensors, or a PyTorch .pth/.pt/.bin state dict.",
        show_default=False)],
    out: Annotated[Path, typer.Option(
        "--out", help="State-dict file to write (.pt; .safetensors by its suffix), for benchmark --pretrained.",
        show_default=False)],
    size: Annotated[int, typer.Option(
        "--size", help="Input size the benchmark will use (its --size, else the profile's: smoke 16, cpu 32, paper "
        "the dataset's).")] = DEFAULT_SIZE,
    json_: Json = False,
) -> None:
    """Fit a timm checkpoint on disk to MODEL at --size and write it for benchmark --pretrained (no download)."""
    from augdiff.classify.export import export_weights as run_export  # torch and timm only when run

    result = run_export(model, from_, out, size)
    if json_:
        emit_json(result.to_dict())
        return
    console.print(f"[green]wrote[/] {out}: {result.written} tensors for {model} at {size} px from {from_} "
                  f"({len(result.matched)} as they were, {len(result.resized)} resized)", highlight=False, soft_wrap=True)
    for name, how in result.resized.items():
        console.print(f"  resized {name}: {how}", highlight=False, markup=False, soft_wrap=True)
    for name, why in result.dropped.items():
        console.print(f"  dropped {name}: {why}", highlight=False, markup=False, soft_wrap=True)
    if result.unused:
        console.print(f"  not used (no such tensor in {model}): {len(result.unused)}, e.g. {result.unused[0]}",
                      highlight=False, markup=False, soft_wrap=True)
    if result.fresh:
        console.print(f"  left to the benchmark's fresh initialisation: {', '.join(result.fresh)}",
                      highlight=False, markup=False, soft_wrap=True)
    console.print(f"use: augdiff benchmark --classifier {model} --size {size} --pretrained {out}",
                  highlight=False, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    classifier_app = typer.Typer(help="Classifier weights: export a timm checkpoint for --pretrained.",
                                 no_args_is_help=True)
    classifier_app.command("export-weights")(export_weights)
    app.add_typer(classifier_app, name="classifier")
