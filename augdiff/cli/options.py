"""Options shared by every command, declared once so they read and behave the same everywhere."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from augdiff.data.spec import DataOptions

console = Console()
err_console = Console(stderr=True)

Seed = Annotated[int, typer.Option("--seed", help="Seeds data splits, loaders, augmentation, training and sampling.")]
Profile = Annotated[
    str,
    typer.Option("--profile", help="Preset chosen by each generator: smoke (tests), cpu (laptop), paper (GPU)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object on stdout.")]
RunsDir = Annotated[
    Path | None,
    typer.Option("--runs-dir", envvar="AUGDIFF_RUNS_DIR", help="Where runs are stored \\[default: ./runs]."),
]
Data = Annotated[str, typer.Option("--data", help="Dataset name (see `augdiff list`).")]
DataRoot = Annotated[
    Path | None,
    typer.Option("--data-root", help="Folder holding the dataset \\[default: $AUGDIFF_DATA_ROOT/<name>]."),
]
Crop = Annotated[int | None, typer.Option("--crop", help="Centre-crop to this many pixels first (32 = DDPM-PCam).")]
Size = Annotated[int | None, typer.Option("--size", help="Resize to this square size after cropping.")]
TrainPerClass = Annotated[
    int | None,
    typer.Option(
        "--train-per-class",
        help="Training images per class; the rest splits val:test = 1:2. \\[default: auto: 70 % of the smallest "
        "class, at most 500; a dataset's own train/val/test split is kept, its training part capped at 500]",
        show_default=False,
    ),
]
Set = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override one generator config value, KEY=VALUE (JSON values); repeatable."),
]

DEFAULT_PROFILE = "cpu"
DEFAULT_DATA = "synth-histo"


def data_options(
    root: Path | None, seed: int, train_per_class: int | None, crop: int | None, size: int | None
) -> DataOptions:
    """``train_per_class`` None is auto (``augdiff.data.splits.AUTO_RULE``)."""
    return DataOptions(root=root, seed=seed, train_per_class=train_per_class, crop=crop, size=size)


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    from augdiff.errors import AugdiffError

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise AugdiffError(f"--set {item!r}: expected KEY=VALUE, e.g. --set steps=200")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
