"""``augdiff benchmark``: the ADD paper's Table 2 — a classifier per training set, K seeds, CIs vs the baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from augdiff.cli.options import (
    Device,
    Json,
    RunArgs,
    checked_device,
    command,
    console,
    emit_json,
    err_console,
)
from augdiff.progress import reporter


def _names(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


@command
def benchmark(
    run: RunArgs = RunArgs(),
    classifier: Annotated[str | None, typer.Option(
        "--classifier", help="Registered classifier or any timm name \\[default: the profile's; vit_base for "
        "paper, as in the ADD paper]")] = None,
    generators: Annotated[str | None, typer.Option(
        "--generators", help="Comma-separated generators \\[default: all installed; none with "
        "--generated].")] = None,
    sets: Annotated[str | None, typer.Option(
        "--sets", help="Comma-separated set recipes: real, synthetic, mixed, aug-5000, progressive "
        "\\[default: all that apply]; the real baseline is always included.")] = None,
    seeds: Annotated[int, typer.Option("--seeds", help="Classifier seeds per set (the same for every set).")] = 3,
    steps: Annotated[int | None, typer.Option(
        "--steps", help="Override the profile's optimiser-step budget (identical for every set).")] = None,
    pretrained: Annotated[Path | None, typer.Option(
        "--pretrained", help="Local state-dict file to initialise the classifier from.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Output folder \\[default: RUNS/<data>/benchmark/<profile>-s<seed>-<hash>].")] = None,
    metrics: Annotated[str | None, typer.Option(
        "--metrics", help="Generation-quality metrics for the Table 1 section, comma-separated, or 'none' "
        "\\[default: the profile's: smoke domain_fd; cpu fid,kid,domain_fd,memorisation; paper all].")] = None,
    budget: Annotated[str, typer.Option(
        "--budget", help="steps: identical optimiser steps for every set; epochs: identical passes over the real "
        "split, generated images entering by replacement (see docs/benchmark.md).")] = "steps",
    synthetic_prob: Annotated[float, typer.Option(
        "--synthetic-prob", help="With --budget epochs: probability that a drawn real image is replaced by a "
        "generated one.")] = 0.5,
    drop_artefacts: Annotated[bool, typer.Option(
        "--drop-artefacts", help="Leave out generated images with more green-dominant pixels than any real "
        "training image.")] = False,
    teacher: Annotated[str, typer.Option(
        "--teacher", help="none | filter | relabel: a classifier trained on the real split alone keeps only "
        "generated images whose label it finds plausible (filter), or relabels them with its probabilities "
        "(see docs/benchmark.md).")] = "none",
    teacher_tolerance: Annotated[float, typer.Option(
        "--teacher-tolerance", help="With --teacher filter: the largest |label − teacher probability| kept.")] = 0.5,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="GENERATOR.KEY=VALUE (JSON values): an option of that generator's fit and sampling, as "
        "`augment --set KEY=VALUE`; repeatable. GENERATOR may also name a --variant. Wins over the generator's "
        "benchmark defaults (add: bidirectional=true).")] = None,
    variant: Annotated[list[str] | None, typer.Option(
        "--variant", help="NAME=GENERATOR:KEY=VALUE[,KEY=VALUE…]: GENERATOR again as its own rows named NAME, with "
        "its own fit and sets (e.g. add-pro-nohas=add-pro:attention=global); repeatable.")] = None,
    generated: Annotated[list[str] | None, typer.Option(
        "--generated", help="NAME=DIR: an existing generated set as its own rows named NAME, nothing fitted; DIR is "
        "an `augdiff augment --out` folder or DIR/<class>/*.png from any tool (see docs/benchmark.md); "
        "repeatable.")] = None,
    fit_seeds: Annotated[int, typer.Option(
        "--fit-seeds", help="Fit and sample every generator this many times with different seeds; the intervals "
        "then cover fit-to-fit variance too (fit seed 0 is --seed's fit).")] = 1,
    shard: Annotated[str | None, typer.Option(
        "--shard", help="K/N: train only cells i with i mod N = K into --out and write no report; a run without "
        "--shard assembles the report (see docs/benchmark.md).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Retrain every cell instead of reusing finished ones.")] = False,
    device: Device = None,
    json_: Json = False,
) -> None:
    """Train a classifier on the real baseline and on each generator's sets; report mean ± 95 % CI."""
    device = checked_device(device)  # a GPU that is not there fails before any work
    # Imported here so that `augdiff --help` does not pay for importing torch and timm.
    from augdiff.benchmark.external import parse_generated
    from augdiff.benchmark.protocol import BenchmarkOptions, run_benchmark
    from augdiff.benchmark.report import table_rows
    from augdiff.benchmark.variants import Variant, parse_generator_sets

    opts = BenchmarkOptions(
        data=run.data, data_options=run.options(), profile=run.profile,
        classifier=classifier, generators=_names(generators), sets=_names(sets), seeds=seeds, seed=run.seed,
        steps=steps, pretrained=pretrained, out=out, force=force, runs_dir=run.runs_dir,
        metrics=[] if metrics == "none" else _names(metrics), budget=budget, synthetic_prob=synthetic_prob,
        drop_artefacts=drop_artefacts, teacher=teacher, teacher_tolerance=teacher_tolerance,
        generator_options=parse_generator_sets(set_),
        variants=[Variant.parse(v) for v in variant or []], generated=parse_generated(generated),
        fit_seeds=fit_seeds, shard=shard, device=device,
    )
    result = run_benchmark(opts, progress=reporter(not json_),
                           announce=lambda msg: err_console.print(msg, highlight=False))
    if json_:
        emit_json({"out": str(result.out_dir), **result.report})
        return
    if shard is not None:
        r = result.report
        console.print(f"[green]shard {r['shard']}[/]: {r['cells_trained']} cells trained, {r['cells_reused']} "
                      f"reused ({r['cells']} of {r['cells_of_all']}) in {result.out_dir}; run the same command "
                      "without --shard to write the report", highlight=False)
        return
    header, rows = table_rows(result.report)
    over = f"{fit_seeds} fits × {seeds} seeds" if fit_seeds > 1 else f"{seeds} seeds"
    table = Table(title=f"{run.data}: test metrics, mean ± 95 % CI over {over}; Δ vs real (paired)",
                  title_justify="left")
    for col in header:
        table.add_column(col, justify="left" if col.startswith(("Set", "Train")) else "right",
                         no_wrap=col == "Set")
    for row in rows:
        style = "bold green" if "↑" in row[-1] or "↑" in row[-2] else None
        table.add_row(*row, style=style)
    console.print(table)
    console.print(f"[green]wrote[/] {result.out_dir}/report.md, report.json, chart.png "
                  f"({result.report['cells_trained']} cells trained, {result.report['cells_reused']} reused)")


def register(app: typer.Typer) -> None:
    app.command("benchmark")(benchmark)
