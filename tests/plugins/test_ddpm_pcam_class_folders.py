"""ddpm-pcam trains each class in workdir/<slug>: classes that share a slug are refused before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from augdiff_ddpm_pcam.generator import DDPMPCam
from PIL import Image

from augdiff.cli import app
from augdiff.errors import AugdiffError


def test_classes_sharing_a_folder_name_are_refused_naming_both() -> None:
    with pytest.raises(AugdiffError) as info:
        DDPMPCam.from_profile("smoke", ["normal", "tumor a", "tumor_a"])
    assert str(info.value) == (
        "--data: classes 'tumor a' and 'tumor_a' both become the folder name 'tumor_a', and ddpm-pcam trains each "
        "class in its own folder; rename one of the two class folders"
    )
    assert DDPMPCam.from_profile("smoke", ["tumor a", "tumor b"]).classes == ["tumor a", "tumor b"]


def test_fit_on_such_a_folder_exits_2_before_a_run_starts(tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    for cls in ("tumor a", "tumor_a"):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(tmp_path / "data" / cls / f"{i}.png")
    runs = tmp_path / "runs"
    result = runner.invoke(app, ["fit", "ddpm-pcam", "--data", "folder", "--data-root", str(tmp_path / "data"),
                                 "--train-per-class", "2", "--profile", "smoke", "--runs-dir", str(runs)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "'tumor a' and 'tumor_a'" in lines[0]
    assert not runs.exists() or not any(runs.rglob("run.json"))
