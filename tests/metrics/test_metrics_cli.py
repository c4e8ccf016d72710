"""``augdiff evaluate`` on a generator and on two folders, fully offline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from metrics_helpers import save_pool_only
from PIL import Image

from augdiff.cli import app
from augdiff.metrics.inception import bundled_inception_path


def test_evaluate_generator_prints_fid_kid_and_domain_distance(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, [
        "evaluate", "--generator", "stain-jitter", "--data", "synth-histo", "--profile", "smoke", "--json",
        "--n", "8", "--train-per-class", "8", "--domain-steps", "30",
    ])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    metrics = report["metrics"]
    assert report["n_real"] == 16 and report["n_fake"] == 8
    assert list(metrics) == ["fid", "kid", "sfid", "lpips_diversity", "domain_fd", "memorisation"]
    if bundled_inception_path() is not None:
        fid, kid, sfid = metrics["fid"], metrics["kid"], metrics["sfid"]
        assert fid["value"] > 0 and fid["n_real"] == 16 and fid["n_fake"] == 8
        assert "biased" in fid["warnings"][0]
        assert np.isfinite(kid["value"]) and kid["subset_size"] == 8 and kid["n_real"] == 16
        assert sfid["value"] > 0
    else:
        assert "augdiff[fid]" in metrics["fid"]["unavailable"]
    domain = metrics["domain_fd"]
    assert domain["value"] > 0 and domain["n_real"] == 16 and "not comparable" in domain["note"]
    assert "value" in metrics["lpips_diversity"] or "needs FILE" in metrics["lpips_diversity"]["unavailable"]
    run_dir = Path(report["run_dir"])
    assert json.loads((run_dir / "metrics.json").read_text())["metrics"]["domain_fd"]["value"] == domain["value"]
    assert Path(metrics["memorisation"]["png"]).is_file()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"


def _write(folder: Path, images: np.ndarray) -> None:
    folder.mkdir(parents=True)
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / f"{i:03d}.png")


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_evaluate_two_folders(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    _write(tmp_path / "real" / "normal", real[:6])
    _write(tmp_path / "real" / "tumor", real[6:] // 2)
    _write(tmp_path / "fake", np.concatenate([real[:1], rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)]))
    # A stand-in pool3-only network keeps this test fast and checks that --inception is honoured.
    stand_in = save_pool_only(tmp_path / "pool_only.pt")
    result = runner.invoke(app, [
        "evaluate", "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake"), "--json",
        "--metrics", "memorisation,domain_fd,sfid", "--domain-steps", "10", "--inception", str(stand_in),
    ])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["mode"] == "folders" and report["classes"] == ["normal", "tumor"]
    assert report["metrics"]["memorisation"]["pixel"]["near_copies"] == 1
    assert report["metrics"]["domain_fd"]["n_real"] == 12
    assert report["metrics"]["memorisation"]["features"]["inception_pool3"]["near_copies"] >= 1
    assert "unavailable with this feature network" in report["metrics"]["sfid"]["unavailable"]


def test_evaluate_argument_errors_are_one_line(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cases = [
        ([], "needs --generator NAME, or both --real DIR and --fake DIR"),
        (["--generator", "stain-jitter", "--real", str(tmp_path)], "cannot be combined"),
        (["--real", str(tmp_path / "nope"), "--fake", str(tmp_path)], "no such folder"),
        (["--generator", "stain-jitter", "--profile", "smoke", "--metrics", "fid,fidd"], "unknown metric"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["evaluate", *args])
        assert result.exit_code == 2, result.output
        assert message in result.output
