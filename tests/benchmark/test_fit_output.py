"""``fit`` (alone and inside augment/benchmark) shows the loader's notes and "resuming from step N"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augdiff.cli import app

ALPHA = "note: dropped the alpha channel of 1 image(s) (composited on white)"
RESIZED = "note: resized 1 image(s) of other sizes to the most common size 8x8"


@pytest.fixture
def odd_folder(tmp_path: Path) -> Path:
    """12 images per class, one of them RGBA and one of another size: the loader converts both and says so."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for cls in ("normal", "tumor"):
        (root / cls).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / cls / f"img{i:02d}.png")
    rgba = rng.integers(0, 256, (8, 8, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(root / "tumor" / "rgba.png")
    Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(root / "normal" / "odd.png")
    return root


def test_fit_shows_the_loader_notes_and_resuming_from_step_n(runner, odd_folder, tmp_path, one_thread):
    args = ["fit", "iddpm", "--data", "folder", "--data-root", str(odd_folder), "--profile", "smoke",
            "--set", "steps=4", "--set", "checkpoint_every=2", "--runs-dir", str(tmp_path / "runs")]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert ALPHA in first.output and RESIZED in first.output and "resuming" not in first.output
    # Killed after its last checkpoint, before the run was recorded finished: the next fit resumes and says so.
    (run_json,) = (tmp_path / "runs" / "folder" / "iddpm").glob("fit-*/run.json")
    record = json.loads(run_json.read_text())
    run_json.write_text(json.dumps({**record, "status": "failed"}))
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    checkpoint = run_json.parent / "work" / "conditional" / "checkpoints" / "step-00000004.pt"
    assert f"note: resuming from step 4 ({checkpoint})" in again.output.replace("\n", "")
    assert ALPHA in again.output


def test_the_fit_inside_augment_shows_the_notes(runner, odd_folder, tmp_path):
    result = runner.invoke(app, ["augment", "--generator", "stain-jitter", "--data", "folder", "--data-root",
                                 str(odd_folder), "--profile", "smoke", "--n", "4", "--out", str(tmp_path / "set")])
    assert result.exit_code == 0, result.output
    assert ALPHA in result.output and RESIZED in result.output


def test_the_benchmark_shows_each_note_once_though_its_fit_loads_the_data_at_another_size(
        tiny_plugin, runner, odd_folder, tmp_path):
    # The classifier reads the data at 16 px, tiny-gen fits at 8 px: two loads with the same notes.
    result = runner.invoke(app, ["benchmark", "--data", "folder", "--data-root", str(odd_folder), "--profile",
                                 "smoke", "--generators", "tiny-gen", "--sets", "mixed", "--seeds", "1", "--steps",
                                 "1", "--metrics", "none", "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert result.output.count(ALPHA) == 1 and result.output.count("note: resized 1 image(s)") == 1
