"""torchrun: ``augdiff fit`` of a generator built on the shared trainer trains over the processes with one writer
(rank 0); every other command, and the fit of any other generator, refuses in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_checks import one_line_error

from augdiff import workflow
from augdiff.cli import app
from augdiff.errors import AugdiffError
from augdiff.training.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def two_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment torchrun gives rank 0 of 2 (no process group is joined by the refusals below)."""
    for name, value in (("WORLD_SIZE", "2"), ("RANK", "0"), ("LOCAL_RANK", "0")):
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("args", [
    ["augment", "--generator", "ddpm-pcam", "--n", "4"],
    ["benchmark", "--generators", "stain-jitter", "--seeds", "1"],
    ["evaluate", "--generator", "ddpm-pcam", "--n", "4"],
    ["data", "info"],
], ids=lambda a: a[0])
def test_commands_that_run_as_one_process_refuse_torchrun(
    runner, two_processes: None, args: list[str]  # type: ignore[no-untyped-def]
) -> None:
    result = runner.invoke(app, [*args, *(["--profile", "smoke"] if args[0] != "data" else [])],
                           env={"COLUMNS": "400"})
    one_line_error(result, "runs as one process, but torchrun started 2", "run it without torchrun",
                    "only `augdiff fit` of add, add-pro, ddpm-pcam, iddpm")
    assert not Path(os.environ["AUGDIFF_RUNS_DIR"]).exists()  # no run folder was opened


def test_the_fit_of_a_one_process_generator_refuses_torchrun(runner, two_processes: None) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["fit", "stain-jitter", "--profile", "smoke"], env={"COLUMNS": "400"})
    one_line_error(result, "augdiff fit stain-jitter: this generator trains in one process",
                    "run it without torchrun", "torchrun works for: add, add-pro, ddpm-pcam, iddpm")
    assert not Path(os.environ["AUGDIFF_RUNS_DIR"]).exists()


def test_the_library_refuses_too(two_processes: None) -> None:
    with pytest.raises(AugdiffError, match="augdiff augment runs as one process"):
        workflow.refuse_torchrun("augdiff augment")


def test_one_process_is_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "1")
    workflow.refuse_torchrun("augdiff augment")  # torchrun --nproc-per-node 1 is one process: nothing to refuse


@pytest.mark.slow
@pytest.mark.dist
def test_two_gloo_processes_fit_ddpm_pcam_with_rank_0_writing(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runs = Path(os.environ["AUGDIFF_RUNS_DIR"])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "augdiff", "fit", "ddpm-pcam", "--profile", "smoke", "--device", "cpu", "--json"]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)  # rank 0 alone reports: one JSON object
    assert summary["fitted"] == "ddpm-pcam" and summary["reused"] is False

    [fit_dir] = list((runs / "synth-histo" / "ddpm-pcam").iterdir())  # one run folder, written once
    assert str(fit_dir) == summary["run_dir"]
    record = json.loads((fit_dir / "run.json").read_text())
    assert record["status"] == "complete" and record["attempts"] == 1
    assert not (fit_dir / ".lock").exists() and (fit_dir / "model").is_dir()
    checkpoints = sorted((fit_dir / "work").rglob("step-*.pt"))
    assert len(checkpoints) >= 2  # one model per class, each checkpointed by rank 0
    for path in checkpoints:
        state = load_checkpoint(path, announce=False)
        assert state["world_size"] == 2 and len(state["rng"]) == 2  # both ranks trained

    # A single process (here on the CPU, without --device) finds the same fit and reuses it.
    again = runner.invoke(app, ["fit", "ddpm-pcam", "--profile", "smoke", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == {**summary, "reused": True}
