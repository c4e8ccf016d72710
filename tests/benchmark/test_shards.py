"""``benchmark --shard K/N``: shards train disjoint cells into one folder; a run without it assembles the report."""

from __future__ import annotations

import json
import os
import socket

import pytest
from bench_helpers import TinyGen

from augdiff import locks
from augdiff.benchmark import protocol
from augdiff.cli import app
from augdiff.data.spec import DataOptions
from augdiff.plan import plan_generator


def _opts(tmp_path, **changes):
    base = dict(data="tiny-data", data_options=DataOptions(seed=0), profile="smoke", generators=["tiny-gen"],
                sets=["mixed", "synthetic"], seeds=2, steps=2, fit_seeds=2, out=tmp_path / "bench",
                runs_dir=tmp_path / "runs", metrics=[])
    return protocol.BenchmarkOptions(**{**base, **changes})


def test_two_shards_then_the_assembly_trains_nothing_and_reports_every_cell(tiny_plugin, tmp_path, monkeypatch):
    # 10 cells: real × 2 seeds, then mixed and synthetic × 2 fit seeds × 2 seeds.
    first = protocol.run_benchmark(_opts(tmp_path, shard="0/2"))
    assert not (first.out_dir / "report.md").exists() and not (first.out_dir / "report.json").exists()
    second = protocol.run_benchmark(_opts(tmp_path, shard="1/2"))
    assert (first.trained, second.trained) == (5, 5)
    assert first.report["shard"] == "0/2" and first.report["cells_of_all"] == 10
    mine = {(c.set_name, c.fit_index, c.seed_index) for c in first.cells}
    theirs = {(c.set_name, c.fit_index, c.seed_index) for c in second.cells}
    assert not mine & theirs and len(mine | theirs) == 10
    # Each of the two generated sets (fit seeds 0 and 1) was made once, by the first shard; the second read them.
    assert TinyGen.generate_calls == 2

    def no_training(*args, **kwargs):
        raise AssertionError("the assembly retrained a cell a shard had trained")

    monkeypatch.setattr(protocol, "train_classifier", no_training)
    assembled = protocol.run_benchmark(_opts(tmp_path))
    report = assembled.report
    assert assembled.trained == 0 and report["cells_reused"] == 10 and TinyGen.generate_calls == 2
    assert [len(s["cells"]) for s in report["sets"]] == [2, 4, 4]
    assert (assembled.out_dir / "report.md").is_file()


def test_a_shard_works_around_a_fit_another_shard_holds_then_polls(tiny_plugin, tmp_path, monkeypatch):
    plan = plan_generator("tiny-gen", "tiny-data", DataOptions(seed=0), profile="smoke", seed=0,
                          runs_dir=tmp_path / "runs")
    plan.fit_dir.mkdir(parents=True)
    lock = plan.fit_dir / ".lock"  # another live process (here: ours) fitting fit seed 0
    holder = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": "2024-01-01T00:00:00+00:00"})
    lock.write_text(holder)
    # Without --shard the held lock is the one-line error it always was.
    with pytest.raises(locks.LockHeld, match="in use by pid"):
        protocol.run_benchmark(_opts(tmp_path, fit_seeds=1))

    made, slept, messages = [], [], []
    make_set = protocol._make_set
    monkeypatch.setattr(protocol, "_make_set",
                        lambda plan, job, *a: made.append(job.fit_index) or make_set(plan, job, *a))

    def other_shard_finishes(seconds):
        slept.append(seconds)
        lock.unlink()

    monkeypatch.setattr(protocol, "_sleep", other_shard_finishes)
    result = protocol.run_benchmark(_opts(tmp_path, shard="0/1"), announce=messages.append)
    # Fit seed 0 was locked: fit seed 1 was made meanwhile; fit seed 0 still locked, so one poll, then it is made.
    assert made == [0, 1, 0, 0] and slept == [protocol.SHARD_POLL_SECONDS]
    assert sum(m.startswith(f"waiting: run {plan.fit_dir} is being made by pid {os.getpid()}") for m in messages) == 1
    assert result.trained == 10


def test_cli_shard_prints_its_share_and_rejects_a_bad_shard(tiny_plugin, runner, tmp_path):
    args = ["benchmark", "--data", "tiny-data", "--profile", "smoke", "--generators", "tiny-gen", "--sets", "mixed",
            "--seeds", "1", "--steps", "1", "--out", str(tmp_path / "b")]
    result = runner.invoke(app, [*args, "--shard", "1/2"])
    assert result.exit_code == 0, result.output
    assert "shard 1/2: 1 cells trained, 0 reused (1 of 2)" in result.output and "without --shard" in result.output
    assert not (tmp_path / "b" / "report.md").exists()
    for bad in ("2/2", "1", "a/b", "-1/2"):
        result = runner.invoke(app, [*args, "--shard", bad])
        assert result.exit_code == 2 and f"--shard {bad}: expected K/N" in result.output


def test_a_shard_waits_for_a_set_another_shard_is_writing_and_leaves_no_failed_runs(tiny_plugin, tmp_path,
                                                                                   monkeypatch):
    from augdiff import workflow
    from augdiff.generated_set import set_lock
    from augdiff.runstore import find_runs

    plan = plan_generator("tiny-gen", "tiny-data", DataOptions(seed=0), profile="smoke", seed=0,
                          runs_dir=tmp_path / "runs")
    workflow.fit(plan)
    out = plan.sets_dir(24, workflow.set_request(plan, 24)[1])  # the set `mixed` needs: 12 per class
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = set_lock(out)
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": "2024-01-01"}))
    slept, messages = [], []
    monkeypatch.setattr(protocol, "_sleep", lambda seconds: slept.append(seconds) or lock.unlink())
    result = protocol.run_benchmark(_opts(tmp_path, sets=["mixed"], fit_seeds=1, seeds=1, shard="0/1"),
                                    announce=messages.append)
    assert result.trained == 2 and slept == [protocol.SHARD_POLL_SECONDS]
    assert any(m.startswith(f"waiting: --out {out} is being made by pid") for m in messages)
    # The polls were refused before an augment run was opened: one augment run, the one that made the set.
    runs = find_runs(tmp_path / "runs", "tiny-data", "tiny-gen", command="augment")
    assert [r.record["status"] for r in runs] == ["complete"]
