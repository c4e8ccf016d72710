"""A new fit started next to existing ones says which recorded options differ from the newest (no silent refit)."""

from __future__ import annotations

import sys
from pathlib import Path

from augdiff.cli import app
from augdiff.data.spec import DataOptions
from augdiff.plan import REUSE_RULE, plan_generator

sys.path.insert(0, str(Path(__file__).resolve().parent / "benchmark"))
from bench_helpers import register_tiny_plugin  # the benchmark tests' tiny plugin

NOTE = "note: starting a new stain-jitter fit"


def _augment(runner, *extra: str):  # type: ignore[no-untyped-def]
    args = ["augment", "--generator", "stain-jitter", "--profile", "smoke", "--n", "4", *extra]
    result = runner.invoke(app, args, env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    return result


def _notes(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(NOTE)]


def _why(line: str) -> str:
    """The differences a note names: "note: starting a new G fit (WHY in RUN-ID); the rule"."""
    return line.split(" fit (", 1)[1].split(" in fit-", 1)[0]


def test_changing_the_seed_on_augment_says_a_new_fit_starts_and_why(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = _augment(runner, "--seed", "0")
    assert _notes(first.output) == []  # the first fit: nothing to reuse, nothing to explain
    second = _augment(runner, "--seed", "1")
    [line] = _notes(second.output)
    assert "(seed 1 instead of 0 in fit-smoke-s0-" in line and line.endswith(REUSE_RULE)
    assert _why(line) == "seed 1 instead of 0"  # the data seed follows the seed already named
    # The same seed again reuses its fit: no note.
    assert _notes(_augment(runner, "--seed", "1", "--n", "6").output) == []


def test_the_note_names_a_changed_data_option_and_a_changed_fit_setting(runner) -> None:  # type: ignore[no-untyped-def]
    _augment(runner)
    [line] = _notes(_augment(runner, "--train-per-class", "20").output)
    assert _why(line) == "data option train_per_class 20 instead of 500"
    [line] = _notes(_augment(runner, "--set", "hue=0.05").output)
    # Compared with the newest fit, the train-per-class one: both of its differences are named.
    assert _why(line) == "data option train_per_class 500 instead of 20; hue=0.05 instead of 0.03"


def test_a_resumed_fit_and_a_device_change_print_no_note(tmp_path: Path) -> None:
    from augdiff import workflow

    plan = plan_generator("stain-jitter", "synth-histo", DataOptions(seed=0), profile="smoke", seed=0,
                          runs_dir=tmp_path)
    assert plan.refit_note() is None  # no fits at all
    workflow.fit(plan)
    other = plan_generator("stain-jitter", "synth-histo", DataOptions(seed=0), profile="smoke", seed=0,
                           runs_dir=tmp_path, device="cpu")
    assert other.fit_run_id == plan.fit_run_id and other.fit_complete()  # the device is not part of the fit
    assert other.refit_note() is None  # its own folder exists: reused (or resumed), not a new fit


def test_benchmark_says_so_when_it_fits_a_new_generator(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from augdiff.benchmark import protocol

    unregister = register_tiny_plugin()
    try:
        def run(seed: int) -> None:
            protocol.run_benchmark(protocol.BenchmarkOptions(
                data="tiny-data", data_options=DataOptions(seed=seed), profile="smoke", generators=["tiny-gen"],
                sets=["mixed"], seeds=1, seed=seed, steps=2, out=tmp_path / f"bench{seed}",
                runs_dir=tmp_path / "runs", metrics=[]))

        run(0)
        assert "starting a new tiny-gen fit" not in capsys.readouterr().err
        run(1)
        err = " ".join(capsys.readouterr().err.split())  # Rich wraps long lines at the terminal's width
        assert "note: starting a new tiny-gen fit (seed 1 instead of 0 in fit-smoke-s0-" in err
    finally:
        unregister()
