"""The CLI frame: inventory, shared options, one-line errors with exit code 2 and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_checks import one_line_error

from augdiff.cli import app
from augdiff.errors import AugdiffError


def test_list_json_names_builtins_with_their_plugins(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    inv = json.loads(result.stdout)
    gens = {g["name"]: g["plugin"] for g in inv["generators"]}
    assert gens["stain-jitter"] == "stain-jitter"
    datasets = {d["name"]: d["plugin"] for d in inv["datasets"]}
    assert {"synth-histo", "folder", "rose", "prcc", "pcam"} <= set(datasets)
    assert set(datasets.values()) == {"datasets"}
    assert all(g["profiles"] for g in inv["generators"])


def test_list_table(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0 and "stain-jitter" in result.stdout and "synth-histo" in result.stdout


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["fit", "no-such-gen"], ["--generator", "no-such-gen", "stain-jitter"]),
        (["fit", "stain-jitter", "--profile", "huge"], ["--profile", "huge", "smoke"]),
        (["fit", "stain-jitter", "--data", "nope"], ["--data", "nope", "synth-histo"]),
        (["fit", "stain-jitter", "--set", "novalue"], ["--set", "KEY=VALUE"]),
        (["fit", "stain-jitter", "--set", "colour=1"], ["--set colour", "no option"]),
        (["augment", "--generator", "stain-jitter", "--n", "0"], ["--n 0", "positive"]),
        (["augment", "--generator", "stain-jitter", "--profile", "smoke", "--n", "3", "--class", "cyst"],
         ["--class cyst", "normal, tumor"]),
    ],
)
def test_bad_options_give_one_red_line_exit_2_and_write_nothing(runner, tmp_path, args, needles) -> None:  # type: ignore[no-untyped-def]
    runs = tmp_path / "bad-runs"
    result = runner.invoke(app, [*args, "--runs-dir", str(runs)])
    one_line_error(result, *needles)
    written = [p for p in runs.rglob("*") if p.is_file() and p.name != "run.json"] if runs.exists() else []
    assert written == [], written


def test_debug_env_shows_the_exception(runner, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AUGDIFF_DEBUG", "1")
    result = runner.invoke(app, ["fit", "no-such-gen"])
    assert isinstance(result.exception, AugdiffError)


def test_fit_records_run_and_a_second_fit_reuses_it(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    args = ["fit", "stain-jitter", "--data", "synth-histo", "--profile", "smoke", "--seed", "3", "--json"]
    first = runner.invoke(app, [*args, "--runs-dir", str(tmp_path / "r")])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert not summary["reused"] and Path(summary["run_dir"]).is_relative_to(tmp_path / "r" / "synth-histo")
    run = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    assert run["seed"] == 3 and run["status"] == "complete" and run["config"]["image_size"] == 16
    assert run["train_counts"] == {"normal": 500, "tumor": 500}
    second = runner.invoke(app, [*args, "--runs-dir", str(tmp_path / "r")])
    assert json.loads(second.stdout)["reused"] and json.loads(second.stdout)["run_dir"] == summary["run_dir"]


def test_runs_dir_comes_from_the_environment(runner, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AUGDIFF_RUNS_DIR", str(tmp_path / "env-runs"))
    result = runner.invoke(app, ["fit", "stain-jitter", "--profile", "smoke", "--json"])
    assert result.exit_code == 0, result.output
    assert Path(json.loads(result.stdout)["run_dir"]).is_relative_to(tmp_path / "env-runs")


def test_commands_are_module_functions_that_take_the_shared_options(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from augdiff.cli.fit import fit
    from augdiff.cli.options import RunArgs

    # As Typer calls it: one keyword per option ...
    fit(generator="stain-jitter", data="synth-histo", profile="smoke", runs_dir=tmp_path / "runs", json_=True)
    first = json.loads(capsys.readouterr().out)
    # ... or with the shared options as one object: the same run.
    fit(generator="stain-jitter", run=RunArgs(profile="smoke", runs_dir=tmp_path / "runs"), json_=True)
    again = json.loads(capsys.readouterr().out)
    assert not first["reused"] and again["reused"] and again["run_dir"] == first["run_dir"]
