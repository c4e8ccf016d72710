"""``augdiff fit GENERATOR``: train a generator on a dataset's training split (resumes if interrupted)."""

from __future__ import annotations

from typing import Annotated

import typer

from augdiff import workflow
from augdiff.cli.options import (
    DEFAULT_DATA,
    DEFAULT_PROFILE,
    Crop,
    Data,
    DataRoot,
    Json,
    Profile,
    RunsDir,
    Seed,
    Set,
    Size,
    TrainPerClass,
    console,
    data_options,
    emit_json,
    parse_overrides,
)
from augdiff.progress import reporter


def register(app: typer.Typer) -> None:
    @app.command("fit")
    def fit(
        generator: Annotated[str, typer.Argument(help="Generator name (see `augdiff list`).")],
        data: Data = DEFAULT_DATA,
        data_root: DataRoot = None,
        crop: Crop = None,
        size: Size = None,
        train_per_class: TrainPerClass = None,
        profile: Profile = DEFAULT_PROFILE,
        seed: Seed = 0,
        runs_dir: RunsDir = None,
        set_: Set = None,
        json_: Json = False,
    ) -> None:
        """Fit GENERATOR on the training split of --data; re-running continues from the last checkpoint."""
        result = workflow.fit(
            generator, data, data_options(data_root, seed, train_per_class, crop, size),
            profile=profile, seed=seed, runs_dir=runs_dir, overrides=parse_overrides(set_),
            progress=reporter(not json_),
        )
        summary = {"generator": generator, "fitted": result.generator.name, "run_dir": str(result.run_dir),
                   "reused": result.reused, "data_fingerprint": result.data_fingerprint}
        if json_:
            emit_json(summary)
        else:
            verb = "already fitted" if result.reused else "fitted"
            console.print(f"[green]{verb}[/] {result.generator.name} on {data} → {result.run_dir}")
