"""save_state_dicts / load_state_dicts: one torch.save file of state dicts by key, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from augdiff.errors import AugdiffError
from augdiff.weights import load_state_dicts, save_state_dicts


def test_state_dicts_round_trip_by_key(tmp_path: Path) -> None:
    net = nn.Linear(2, 3)
    path = tmp_path / "model" / "generator.pt"
    path.parent.mkdir()
    save_state_dicts(path, {"class-0": net.state_dict(), "ids": ["a", "b"], "labels": torch.arange(2)})
    assert [p.name for p in path.parent.iterdir()] == ["generator.pt"]  # no temporary left behind
    state = load_state_dicts(path, missing="unused")
    assert list(state) == ["class-0", "ids", "labels"] and state["ids"] == ["a", "b"]
    for key, value in net.state_dict().items():
        assert torch.equal(state["class-0"][key], value)


def test_missing_or_unreadable_files_are_one_line_errors_naming_them(tmp_path: Path) -> None:
    path = tmp_path / "generator.pt"
    with pytest.raises(AugdiffError, match=r"generator\.pt: missing X weights; re-run `augdiff fit x`$"):
        load_state_dicts(path, missing="missing X weights; re-run `augdiff fit x`")
    path.write_bytes(b"not a torch file")
    with pytest.raises(AugdiffError, match=r"generator\.pt: not a readable weights file"):
        load_state_dicts(path, missing="unused")
