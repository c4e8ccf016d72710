"""Generated sets: chunked writing that resumes after a crash, and an ``--out`` that never loses a user's files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from augdiff import workflow
from augdiff.cli import app
from augdiff.data.spec import DataOptions
from augdiff.errors import AugdiffError
from augdiff.generated_set import partial_dir, read_generated_set
from augdiff.plan import plan_generator

pytestmark = pytest.mark.slow
N = 600  # three chunks of stain-jitter's 256


def _augment(out: Path, runs: Path, **kw):
    plan = plan_generator("stain-jitter", "synth-histo", DataOptions(seed=0), profile="smoke", seed=0, runs_dir=runs)
    return workflow.augment(plan, n=N, out=out, **kw)


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
            and p.name != "set.json"}


def test_a_crashed_augment_resumes_from_its_finished_chunks_and_equals_an_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = tmp_path / "runs"
    whole = _augment(tmp_path / "whole", runs)
    assert len(whole.generated) == N and whole.resumed_chunks == 0

    from augdiff_stain_jitter.generator import StainJitter

    calls = {"n": 0}
    real = StainJitter.generate_chunk

    def dies_on_the_third_chunk(self, chunk, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise MemoryError("killed")
        return real(self, chunk, **kw)

    monkeypatch.setattr(StainJitter, "generate_chunk", dies_on_the_third_chunk)
    with pytest.raises(MemoryError):
        _augment(tmp_path / "resumed", runs)
    assert not (tmp_path / "resumed").exists()  # nothing that looks finished
    assert len(list((partial_dir(tmp_path / "resumed") / "chunks").glob("*.jsonl"))) == 2
    monkeypatch.setattr(StainJitter, "generate_chunk", real)
    calls["n"] = 0
    resumed = _augment(tmp_path / "resumed", runs)
    assert resumed.resumed_chunks == 2 and not partial_dir(tmp_path / "resumed").exists()
    assert _tree(tmp_path / "resumed") == _tree(tmp_path / "whole")
    info = json.loads((tmp_path / "whole" / "set.json").read_text())
    assert info["n"] == N and info["distinct"] == len({r["pixels"] for r in whole.generated.records})

    again = _augment(tmp_path / "whole", runs)  # the same request once more: reused, not regenerated
    assert again.reused and again.run_dir is None


def test_out_refuses_a_folder_holding_anything_else_and_leaves_it_untouched(runner, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    (out / "sub").mkdir(parents=True)
    (out / "notes.txt").write_text("precious")
    (out / "sub" / "x.png").write_bytes(b"x")
    before = _tree(out)
    for extra in ([], ["--force"]):
        res = runner.invoke(app, ["augment", "--generator", "stain-jitter", "--profile", "smoke", "--n", "8",
                                  "--out", str(out), *extra])
        assert res.exit_code == 2, res.output
        assert "not an augdiff generated set" in res.output and "notes.txt" in res.output
        assert len(res.output.strip().splitlines()) == 1
    assert _tree(out) == before
    assert not list((tmp_path / "runs").rglob("run.json"))  # refused before any fit or run record


def test_out_refuses_a_file_the_data_root_and_an_unwritable_parent(runner, tmp_path: Path) -> None:
    target = tmp_path / "file.png"
    target.write_bytes(b"keep")
    res = runner.invoke(app, ["augment", "--generator", "stain-jitter", "--profile", "smoke", "--n", "8",
                              "--out", str(target)])
    assert res.exit_code == 2 and "is a file" in res.output and target.read_bytes() == b"keep"
    with pytest.raises(AugdiffError, match="overlaps the data root"):
        from augdiff.generated_set import check_output

        check_output(tmp_path / "data" / "generated", "k", protect=[tmp_path / "data"])
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        res = runner.invoke(app, ["augment", "--generator", "stain-jitter", "--profile", "smoke", "--n", "8",
                                  "--out", str(locked / "set")])
        assert res.exit_code == 2 and "permission denied" in res.output


def test_another_augdiff_set_needs_force_and_force_replaces_only_that(runner, tmp_path: Path) -> None:
    out = tmp_path / "set"
    base = ["augment", "--generator", "stain-jitter", "--profile", "smoke", "--out", str(out)]
    assert runner.invoke(app, [*base, "--n", "8"]).exit_code == 0
    res = runner.invoke(app, [*base, "--n", "12"])
    assert res.exit_code == 2 and "--force" in res.output and len(read_generated_set(out)) == 8
    res = runner.invoke(app, [*base, "--n", "12", "--force"])
    assert res.exit_code == 0, res.output
    assert len(read_generated_set(out)) == 12


def test_steps_zero_is_refused_before_any_fit(runner, tmp_path: Path) -> None:
    res = runner.invoke(app, ["augment", "--generator", "ddpm-pcam", "--profile", "smoke", "--n", "4",
                              "--steps", "0"])
    assert res.exit_code == 2 and "--steps 0" in res.output
    assert not list((tmp_path / "runs").rglob("run.json"))


def test_sigkill_midway_then_the_same_command_resumes_to_the_uninterrupted_set(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "augdiff", "augment", "--generator", "stain-jitter", "--profile", "smoke",
           "--n", "5000", "--runs-dir", str(runs), "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "killed"
    proc = subprocess.Popen([*cmd, "--out", str(out)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    chunks = partial_dir(out) / "chunks"
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and len(list(chunks.glob("*.jsonl"))) < 2:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = len(list(chunks.glob("*.jsonl")))
    assert 2 <= finished < 20 and not out.exists(), finished
    resumed = subprocess.run([*cmd, "--out", str(out)], env=env, capture_output=True, text=True, check=True)
    assert json.loads(resumed.stdout)["resumed_chunks"] >= finished
    subprocess.run([*cmd, "--out", str(tmp_path / "whole")], env=env, capture_output=True, check=True)
    assert _tree(out) == _tree(tmp_path / "whole")


def test_a_second_augment_into_the_same_out_is_told_who_holds_it(runner, tmp_path: Path) -> None:
    from augdiff import locks

    out = tmp_path / "set"
    with locks.hold(tmp_path / ".set.lock", "another augment"):
        res = runner.invoke(app, ["augment", "--generator", "stain-jitter", "--profile", "smoke", "--n", "8",
                                  "--out", str(out), "--json"])
    assert res.exit_code == 2 and f"pid {os.getpid()}" in res.output and "in use" in res.output
    assert not out.exists()
