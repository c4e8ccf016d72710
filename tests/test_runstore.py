"""Atomic writes and the run store: nothing half-written, run.json tells the truth about each command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from augdiff import atomic
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
