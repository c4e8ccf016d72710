"""ADD-Pro end to end on real PatchCamelyon patches (white fat, flat background, stroma), at smoke size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from augdiff.cli import app
from augdiff.generator import read_generated_set

pytestmark = [pytest.mark.data, pytest.mark.slow]


def test_add_pro_generates_a_full_progressive_set_from_real_patches(pcam_mini: Path, runner, tmp_path: Path) -> None:
    out = tmp_path / "set"
    n = 3000  # 300 of the 500 normal training patches, so flat and white ones are among the sources
    res = runner.invoke(app, ["augment", "--generator", "add-pro", "--data", "folder", "--data-root", str(pcam_mini),
                              "--crop", "32", "--profile", "smoke", "--n", str(n), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["n"] == n
    generated = read_generated_set(out)
    assert len(generated) == n == len(list((out / "images").glob("*.png")))
    levels = np.array([r["level"] for r in generated.records])
    assert np.all((levels >= 0) & (levels <= 1))
    np.testing.assert_allclose(generated.probs().sum(1), 1.0, atol=1e-5)
    sources = {r["source"] for r in generated.records}
    assert len(sources) == n // 10 and all("/normal/" in f"/{s}" for s in sources)
    for r in generated.records:
        assert ("label_from" in r) == (r.get("label_from") == "depth")
    assert (out / "strips.png").is_file() and len(list((out / "strips").rglob("*.png"))) == len(sources)
