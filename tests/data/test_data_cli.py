from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from data_helpers import flat_folder, snapshot
from PIL import Image

from augdiff.cli import app


def test_info_json_on_synth_histo(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(
        app, ["data", "info", "--json", "--size", "16", "--seed", "2"]
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["name"] == "synth-histo" and info["image_size"] == 16
    assert info["splits"]["test"] == {"normal": 300, "tumor": 300}
    assert len(info["fingerprint"]) == 16 and info["notes"] == []
    assert info["stage_mean"]["normal"] < info["stage_mean"]["tumor"]


def test_info_table_shows_counts_fingerprint_and_notes(tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    root = flat_folder(tmp_path / "d", {"a": 5, "b": 5})
    (root / "a" / "x.txt").write_text("x")
    result = runner.invoke(
        app,
        [
            "data",
            "info",
            "--data",
            "folder",
            "--data-root",
            str(root),
            "--train-per-class",
            "2",
            "--crop",
            "6",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "6x6 px" in result.stdout and "fingerprint " in result.stdout
    assert "note: skipped 1 non-image file(s), e.g. a/x.txt" in result.stdout
    rows = {
        ln.split()[1]: [t for t in ln.split() if t.isdigit()]
        for ln in result.stdout.splitlines()
        if ln.split()[1:2] and ln.split()[1] in ("train", "val", "test")
    }
    assert rows == {"train": ["2", "2"], "val": ["1", "1"], "test": ["2", "2"]}


def test_preview_writes_one_row_per_class(tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "sub" / "grid.png"
    result = runner.invoke(app, ["data", "preview", "--out", str(out), "--per-class", "3", "--size", "32"])
    assert result.exit_code == 0, result.output
    grid = np.asarray(Image.open(out))
    # Two rows of 96-px tiles (32 px upscaled x3) with 2-px gaps; 72-px label column plus three tiles.
    assert grid.shape == (2 * 96 + 3 * 2, 72 + 3 * 98 + 2, 3)
    assert snapshot(tmp_path) == {"sub/grid.png"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--data", "nosuch"],
            "--data: unknown dataset 'nosuch'; known datasets: folder, pcam, prcc, rose, synth-histo",
        ),
        (["--data", "rose"], "--data rose: no data folder given"),
        (["--data", "folder"], "--data folder needs --data-root DIR"),
        (["--crop", "100"], "--crop 100: larger than the 64x64 images"),
    ],
)
def test_bad_dataset_choice(args: list[str], message: str, tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    for cmd in (["data", "info"], ["data", "preview", "--out", str(tmp_path / "g.png")]):
        result = runner.invoke(app, [*cmd, *args])
        assert result.exit_code == 2, result.output
        assert (
            result.output.strip() == f"error: {message}" or message in result.output.strip().splitlines()[0]
        )
        assert len(result.output.strip().splitlines()) == 1
    assert snapshot(tmp_path) == set()


def test_preview_refuses_other_formats(tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["data", "preview", "--out", str(tmp_path / "g.jpg")])
    assert result.exit_code == 2 and "give a name ending in .png" in result.output
    assert snapshot(tmp_path) == set()


@pytest.mark.data
def test_pcam_mini_official_split(pcam_mini: Path, runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["data", "info", "--data", "folder", "--data-root", str(pcam_mini), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["image_size"] == 96 and info["notes"] == []
    assert info["splits"] == {
        "train": {"normal": 500, "tumor": 500},
        "val": {"normal": 150, "tumor": 150},
        "test": {"normal": 300, "tumor": 300},
    }
