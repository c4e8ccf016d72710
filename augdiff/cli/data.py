"""``augdiff data info`` and ``augdiff data preview``: inspect a dataset before fitting anything on it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from augdiff.cli.options import (
    DEFAULT_DATA,
    DEFAULT_PROFILE,
    Crop,
    Data,
    DataRoot,
    Json,
    Profile,
    Seed,
    Size,
    TrainPerClass,
    console,
    data_options,
    emit_json,
)
from augdiff.data import info as data_info

data_app = typer.Typer(
    help="Inspect datasets: counts, sizes, fingerprint, and a preview grid.", no_args_is_help=True
)

Out = Annotated[Path, typer.Option("--out", help="PNG file to write the grid to.")]
PerClass = Annotated[int, typer.Option("--per-class", help="Images per class row.")]


@data_app.command("info")
def info(
    data: Data = DEFAULT_DATA,
    data_root: DataRoot = None,
    json_: Json = False,
    seed: Seed = 0,
    profile: Profile = DEFAULT_PROFILE,  # accepted like everywhere; a dataset has no profile
    crop: Crop = None,
    size: Size = None,
    train_per_class: TrainPerClass = 500,
) -> None:
    """Images per class per split, image size, content fingerprint and loader notes."""
    result = data_info.dataset_info(data, data_options(data_root, seed, train_per_class, crop, size))
    if json_:
        emit_json(result)
        return
    table = Table(
        title=f"{result['name']}: {result['image_size']}x{result['image_size']} px", title_justify="left"
    )
    table.add_column("split")
    for cls in result["classes"]:
        table.add_column(cls, justify="right")
    for split, counts in result["splits"].items():
        table.add_row(split, *(str(counts[c]) for c in result["classes"]))
    console.print(table)
    console.print(f"fingerprint {result['fingerprint']}")
    if "stage_mean" in result:
        means = ", ".join(f"{c} {m:.2f}" for c, m in result["stage_mean"].items())
        console.print(f"mean ground-truth stage (train): {means}")
    for note in result["notes"]:
        console.print(f"note: {note}", highlight=False)


@data_app.command("preview")
def preview(
    out: Out,
    data: Data = DEFAULT_DATA,
    data_root: DataRoot = None,
    per_class: PerClass = 8,
    json_: Json = False,
    seed: Seed = 0,
    profile: Profile = DEFAULT_PROFILE,
    crop: Crop = None,
    size: Size = None,
    train_per_class: TrainPerClass = 500,
) -> None:
    """Write a PNG grid of training images, one row per class."""
    result = data_info.write_preview(
        data, data_options(data_root, seed, train_per_class, crop, size), out, per_class
    )
    if json_:
        emit_json(result)
        return
    console.print(f"wrote {result['out']} ({len(result['rows'])} rows x {per_class})")
    for note in result["notes"]:
        console.print(f"note: {note}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
