"""Options shared by every command, declared once so they read and behave the same everywhere."""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from augdiff.data.spec import DataOptions

if TYPE_CHECKING:
    from augdiff.plan import RunPlan

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
Device = Annotated[
    str | None,
    typer.Option(
        "--device",
        help="Where models run: cpu, cuda, cuda:N, mps or auto (CUDA when there is one); checked before any work. "
        "A fit or set made on one device is reused on another \\[default: auto; the metrics: cpu].",
        show_default=False,
    ),
]

DEFAULT_PROFILE = "cpu"
DEFAULT_DATA = "synth-histo"


@dataclass(frozen=True)
class DataArgs:
    """The dataset options of every command that reads a dataset (``data info``/``preview``, ``fit``, ...).

    A command takes one parameter of this type (or of :class:`RunArgs`) and is wrapped in :func:`command`: Typer
    then shows each field as its own option, and the command receives the object.
    """

    data: Data = DEFAULT_DATA
    data_root: DataRoot = None
    crop: Crop = None
    size: Size = None
    train_per_class: TrainPerClass = None  # None: auto (``augdiff.data.splits.AUTO_RULE``)
    seed: Seed = 0

    def options(self) -> DataOptions:
        return DataOptions(root=self.data_root, seed=self.seed, train_per_class=self.train_per_class, crop=self.crop,
                           size=self.size)


@dataclass(frozen=True)
class RunArgs(DataArgs):
    """:class:`DataArgs` plus the profile and the run store: the options of every command that fits or generates."""

    profile: Profile = DEFAULT_PROFILE
    runs_dir: RunsDir = None

    def plan(self, device: str | None = None) -> RunPlan:
        """The command's run: the data loaded (once per size) and each generator resolved from it, on ``device``
        (``--device``, checked with :func:`checked_device`; None: each generator's own)."""
        from augdiff.plan import RunPlan

        return RunPlan(self.data, self.options(), self.profile, self.seed, self.runs_dir, device)


def checked_device(device: str | None) -> str | None:
    """``--device`` checked against this machine before any data is read; None when it was not given."""
    if device is None:
        return None
    from augdiff.devices import check_device

    return check_device(device)


def command(
    func: Callable[..., Any] | None = None, *, torchrun: bool = False
) -> Callable[..., Any]:
    """Expand ``func``'s :class:`DataArgs`/:class:`RunArgs` parameter into one Typer option per field.

    The wrapped function stays an importable module function: call it with the options as keywords (as Typer does),
    or with the object itself under the parameter's name. Started by torchrun with several processes, it stops with
    one line unless declared ``@command(torchrun=True)`` (``fit``, which shares its training out).
    """
    if func is None:
        return functools.partial(command, torchrun=torchrun)
    signature = inspect.signature(func, eval_str=True)
    group = next(p for p in signature.parameters.values()
                 if isinstance(p.annotation, type) and issubclass(p.annotation, DataArgs))
    group_cls = group.annotation
    hints = typing.get_type_hints(group_cls, include_extras=True)
    names = [f.name for f in fields(group_cls)]
    params: list[inspect.Parameter] = []
    for p in signature.parameters.values():
        if p is group:
            params += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                                         annotation=hints[f.name]) for f in fields(group_cls)]
        else:
            params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        if not torchrun and os.environ.get("WORLD_SIZE", "1").strip() not in ("", "1"):
            from augdiff.workflow import refuse_torchrun

            refuse_torchrun("this command")  # before any data is read or any run folder is opened
        if group.name not in kwargs:
            kwargs[group.name] = group_cls(**{k: kwargs.pop(k) for k in names if k in kwargs})
        return func(**kwargs)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


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
