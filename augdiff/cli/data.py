"""``augdiff data info`` and ``augdiff data preview``: inspect a dataset before fitting anything on it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from augdiff.cli.options import DataArgs, Json, command, console, emit_json
from augdiff.data import info as data_info
from augdiff.data.splits import AUTO_RULE

Out = Annotated[Path, typer.Option("--out", help="PNG file to write the grid to.")]
PerClass = Annotated[int, typer.Option("--per-class", help="Images per class row.")]


@command
def info(source: DataArgs = DataArgs(), json_: Json = False) -> None:
    """Images per class per split, image size, content fingerprint and loader notes."""
    result = data_info.dataset_info(source.data, source.options())
    result["train_per_class"] = "auto" if source.train_per_class is None else source.train_per_class
    result["split_rule"] = _split_rule(source.train_per_class)
    if json_:
        emit_json(result)
        return
    table = Table(
        title=f"{result['name']}: {result['image_size']}x{result['image_size']} px", title_justify="left"
    )
    table.add_column("split")
    for cls in result["classes"]:
        table.add_column(Text(cls), justify="right")  # a class folder's name, not Rich markup
    for split, counts in result["splits"].items():
        table.add_row(split, *(str(counts[c]) for c in result["classes"]))
    console.print(table)
    console.print(f"fingerprint {result['fingerprint']}")
    drawn = ", ".join(f"{c} {n}" for c, n in result["splits"]["train"].items())
    console.print(f"train per class: {result['split_rule']}; drawn here: {drawn}", highlight=False, markup=False)
    if "stage_mean" in result:
        means = ", ".join(f"{c} {m:.2f}" for c, m in result["stage_mean"].items())
        console.print(f"mean ground-truth stage (train): {means}")
    for note in result["notes"]:
        console.print(f"note: {note}", highlight=False, markup=False)


@command
def preview(out: Out, source: DataArgs = DataArgs(), per_class: PerClass = 8, json_: Json = False) -> None:
    """Write a PNG grid of training images, one row per class."""
    result = data_info.write_preview(source.data, source.options(), out, per_class)
    if json_:
        emit_json(result)
        return
    console.print(f"wrote {result['out']} ({len(result['rows'])} rows x {per_class})")
    for note in result["notes"]:
        console.print(f"note: {note}", highlight=False, markup=False)


def _split_rule(train_per_class: int | None) -> str:
    """How the training images per class were chosen, in words (the counts themselves are in the table)."""
    if train_per_class is None:
        return AUTO_RULE
    return (
        f"{train_per_class} (--train-per-class), the rest val:test = 1:2; a dataset's own train/val/test split "
        f"is kept, its training part capped at {train_per_class}"
    )


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(
        help="Inspect datasets: counts, sizes, fingerprint, and a preview grid.", no_args_is_help=True
    )
    data_app.command("info")(info)
    data_app.command("preview")(preview)
    app.add_typer(data_app, name="data")
