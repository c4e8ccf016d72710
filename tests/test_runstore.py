"""Atomic writes and the run store: nothing half-written, run.json tells the truth about each command."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from augdiff import atomic
from augdiff.errors import AugdiffError
from augdiff.runstore import find_runs, start_run, versions
from augdiff.seeding import derive_seed, torch_generator


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    atomic.write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"], "no temp file is left behind"


def test_atomic_dir_appears_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "set"
    with pytest.raises(RuntimeError), atomic.atomic_dir(target) as tmp:
        (tmp / "x.png").write_bytes(b"png")
        raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic.atomic_dir(target) as tmp:
        (tmp / "x.png").write_bytes(b"png")
    with atomic.atomic_dir(target) as tmp:  # replacing an existing folder keeps only the new content
        (tmp / "y.png").write_bytes(b"png")
    assert sorted(p.name for p in target.iterdir()) == ["y.png"]


def test_run_json_records_config_seed_fingerprint_versions_and_status(tmp_path: Path) -> None:
    with start_run(tmp_path, dataset="d", generator="g", command="fit", config={"lr": 1e-3}, seed=3,
                   data_fingerprint="abc", run_id="fit-1") as run:
        assert json.loads((run.directory / "run.json").read_text())["status"] == "running"
    record = json.loads((tmp_path / "d" / "g" / "fit-1" / "run.json").read_text())
    assert record["status"] == "complete" and record["seed"] == 3 and record["config"] == {"lr": 1e-3}
    assert record["data_fingerprint"] == "abc" and record["versions"]["torch"] == versions()["torch"]
    assert record["seconds"] >= 0 and record["attempts"] == 1


def test_failed_run_is_marked_failed_and_rerun_counts_attempts(tmp_path: Path) -> None:
    with pytest.raises(ValueError), start_run(tmp_path, dataset="d", generator="g", command="fit",
                                              config={}, seed=0, data_fingerprint="f", run_id="r"):
        raise ValueError("boom")
    (failed,) = find_runs(tmp_path, "d", "g")
    assert failed.record["status"] == "failed" and "boom" in failed.record["error"]
    assert find_runs(tmp_path, "d", "g", status="complete") == []
    with start_run(tmp_path, dataset="d", generator="g", command="fit", config={}, seed=0,
                   data_fingerprint="f", run_id="r"):
        pass
    (done,) = find_runs(tmp_path, "d", "g", status="complete")
    assert done.record["attempts"] == 2


def test_derived_seeds_are_stable_and_independent() -> None:
    assert derive_seed(0, "split") == derive_seed(0, "split")
    assert len({derive_seed(0, "split"), derive_seed(1, "split"), derive_seed(0, "train")}) == 3
    a = torch_generator(5, "noise")
    b = torch_generator(5, "noise")
    import torch

    assert torch.equal(torch.randn(4, generator=a), torch.randn(4, generator=b))


def test_atomic_outputs_get_normal_permissions(tmp_path: Path) -> None:
    import os

    atomic.write_text(tmp_path / "f.txt", "x")
    with atomic.atomic_dir(tmp_path / "d"):
        pass
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o777 & ~mask


# -- the lock on a run, stale temporaries and records ------------------------------------------------------
def _start(root: Path, run_id: str = "fit-1"):  # type: ignore[no-untyped-def]
    return start_run(root, dataset="d", generator="g", command="fit", config={}, seed=0, data_fingerprint="f",
                     run_id=run_id)


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    return int(done.stdout)


def _lock(path: Path, pid: int, host: str | None = None, started: dt.datetime | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    when = (started or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "started": when}))


def test_second_start_of_a_held_run_names_the_holder_and_changes_nothing(tmp_path: Path) -> None:
    lock = tmp_path / "d" / "g" / "fit-1" / ".lock"
    with _start(tmp_path) as run:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
        before = (run.directory / "run.json").read_text()
        with pytest.raises(AugdiffError) as info, _start(tmp_path):
            pass
        message = str(info.value)
        assert f"run {run.directory} is in use by pid {os.getpid()} since " in message
        assert f"(lock {lock}); wait for it to finish, or delete {lock} if that process is gone" in message
        assert "\n" not in message
        assert (run.directory / "run.json").read_text() == before, "the refused start must not touch run.json"
    assert not lock.exists(), "the lock is released when the run ends"
    assert json.loads((run.directory / "run.json").read_text())["status"] == "complete"


def test_lock_of_a_dead_process_is_taken_over_with_a_note(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    lock = tmp_path / "d" / "g" / "fit-1" / ".lock"
    pid = _dead_pid()
    _lock(lock, pid)
    with _start(tmp_path) as run:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
        assert run.record["pid"] == os.getpid() and run.record["host"] == socket.gethostname()
    err = capsys.readouterr().err
    assert f"took over the stale lock {lock}" in err and f"pid {pid} is no longer running" in err
    assert not lock.exists()


def test_lock_from_another_host_is_kept_for_a_day(tmp_path: Path) -> None:
    lock = tmp_path / "d" / "g" / "fit-1" / ".lock"
    _lock(lock, 1, host="other-node")
    with pytest.raises(AugdiffError, match="in use by pid 1 on host other-node since "), _start(tmp_path):
        pass
    _lock(lock, 1, host="other-node", started=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2))
    with _start(tmp_path):
        pass


def test_half_written_lock_is_respected_briefly_then_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / "d" / "g" / "fit-1" / ".lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("")  # its creator is between open() and write()
    with pytest.raises(AugdiffError, match="in use by another process"), _start(tmp_path):
        pass
    old = time.time() - 60
    os.utime(lock, (old, old))
    with _start(tmp_path):
        pass


def test_stale_temporaries_in_the_run_folder_are_removed(tmp_path: Path) -> None:
    run_dir = tmp_path / "d" / "g" / "fit-1"
    (run_dir / "work" / "checkpoints").mkdir(parents=True)
    (run_dir / "work" / "checkpoints" / ".step-00000020.pt.k3j2.tmp").write_bytes(b"half a checkpoint")
    (run_dir / "work" / "checkpoints" / "step-00000010.pt").write_bytes(b"a finished checkpoint")
    (run_dir / ".run.json.x1y2.tmp").write_text("{")
    (run_dir / ".samples.ab12.tmp" / "images").mkdir(parents=True)
    (run_dir / ".samples.ab12.tmp" / "images" / ".0.png.q.tmp").write_bytes(b"png")
    with _start(tmp_path):
        pass
    left = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*"))
    assert left == ["run.json", "work", "work/checkpoints", "work/checkpoints/step-00000010.pt"]


def test_running_records_of_dead_processes_become_interrupted(tmp_path: Path) -> None:
    base = tmp_path / "d" / "g"
    dead, alive, held, legacy = _dead_pid(), os.getpid(), _dead_pid(), None
    for name, pid in (("dead", dead), ("alive", alive), ("held", held), ("legacy", legacy)):
        record = {"status": "running", "pid": pid, "host": socket.gethostname()} if pid else {"status": "running"}
        atomic.write_json(base / name / "run.json", record)
    _lock(base / "held" / ".lock", os.getpid())  # a live lock: its run is still going, whatever the record says
    with _start(tmp_path, "fit-new"):
        pass
    status = {d.name: json.loads((d / "run.json").read_text())["status"] for d in base.iterdir()}
    # legacy: written before runs recorded their pid, so nothing says whether it still runs.
    assert status == {"dead": "interrupted", "alive": "running", "held": "running", "legacy": "running",
                      "fit-new": "complete"}
