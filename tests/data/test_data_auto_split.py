"""``--train-per-class`` left out: 70 % of the smallest class trains (at most 500), the rest val:test = 1:2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from data_helpers import flat_folder, snapshot, split_folder

from augdiff.cli import app
from augdiff.data import splits
from augdiff.data.folder import load_folder
from augdiff.data.spec import DataOptions
from augdiff.errors import AugdiffError


def test_flat_folder_of_120_per_class_works_with_defaults(tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    root = flat_folder(tmp_path / "d", {"cancer": 120, "healthy": 150})
    result = runner.invoke(app, ["data", "info", "--data", "folder", "--data-root", str(root), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    # 70 % of the smallest class (120) for every class; each class's rest split val:test = 1:2.
    assert info["splits"] == {
        "train": {"cancer": 84, "healthy": 84},
        "val": {"cancer": 12, "healthy": 22},
        "test": {"cancer": 24, "healthy": 44},
    }
    assert info["train_per_class"] == "auto" and "70 % of the smallest class" in info["split_rule"]

    table = runner.invoke(app, ["data", "info", "--data", "folder", "--data-root", str(root)])
    assert table.exit_code == 0, table.output
    assert "drawn here: cancer 84, healthy 84" in " ".join(table.stdout.split())


def test_too_few_images_names_the_minimum(tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    root = flat_folder(tmp_path / "d", {"a": 12, "b": 9})
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["data", "info", "--data", "folder", "--data-root", str(root)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "class 'b' has 9 images" in lines[0] and "needs at least 10 per class" in lines[0]
    assert "--train-per-class N" in lines[0]
    assert snapshot(tmp_path) == before


def test_the_minimum_itself_is_enough(tmp_path: Path) -> None:
    ds = load_folder(flat_folder(tmp_path / "d", {"a": 10, "b": 10}), DataOptions())
    assert ds.train.counts() == {"a": 7, "b": 7}
    assert ds.val.counts() == {"a": 1, "b": 1} and ds.test.counts() == {"a": 2, "b": 2}


def test_auto_is_capped_at_500() -> None:
    labels = np.array([0] * 1000 + [1] * 800)
    idx = splits.split_per_class(labels, ["a", "b"], None, seed=0, where="x")
    assert np.bincount(labels[idx["train"]]).tolist() == [500, 500]
    assert splits.auto_train_per_class({"a": 714, "b": 2000}, "x") == 499


def test_explicit_number_is_taken_as_given(tmp_path: Path) -> None:
    root = flat_folder(tmp_path / "d", {"a": 30, "b": 30})
    assert load_folder(root, DataOptions(train_per_class=25)).train.counts() == {"a": 25, "b": 25}
    with pytest.raises(AugdiffError, match=r"needs at least 32 .*or leave it out for the automatic split"):
        load_folder(root, DataOptions(train_per_class=30))


def test_auto_keeps_a_datasets_own_splits_and_their_fingerprint(tmp_path: Path) -> None:
    counts = {"a": 6, "b": 4}
    root = split_folder(tmp_path / "d", {"train": counts, "val": {"a": 2, "b": 2}, "test": {"a": 3, "b": 3}})
    auto = load_folder(root, DataOptions())
    assert auto.train.counts() == counts and auto.test.counts() == {"a": 3, "b": 3}
    # Same data, same fingerprint (so the same fit run ids) as the former default of 500.
    assert auto.fingerprint() == load_folder(root, DataOptions(train_per_class=500)).fingerprint()


def test_auto_options_record_the_former_default() -> None:
    options = DataOptions()
    assert options.auto_train_per_class and not DataOptions(train_per_class=500).auto_train_per_class
    assert options.record()["train_per_class"] == 500  # run records and benchmark keys keep their values
    assert DataOptions(**{**options.__dict__, "size": 16}).auto_train_per_class  # survives the copy idiom


def test_help_states_the_auto_default(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["data", "info", "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    assert result.exit_code == 0, result.output
    assert "[default: auto: 70 % of the smallest class, at most 500;" in result.output
