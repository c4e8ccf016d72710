"""Classifier-side baselines as benchmark rows: Mixup, CutMix, RandAugment and stain normalisation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from augdiff.benchmark import recipes
from augdiff.classify.train import TrainingExtras
from augdiff.cli import app

pytestmark = pytest.mark.slow


def test_benchmark_reports_a_row_per_classifier_side_baseline(runner, tmp_path) -> None:
    res = runner.invoke(app, ["benchmark", "--data", "synth-histo", "--profile", "smoke", "--seeds", "1",
                              "--sets", "real,mixup,cutmix,randaugment,stain", "--out", str(tmp_path / "b"),
                              "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    rows = {s["name"]: s for s in report["sets"]}
    assert list(rows) == ["real", "mixup", "cutmix", "randaugment", "stain"]
    for name in ("mixup", "cutmix", "randaugment", "stain"):
        assert rows[name]["composition"]["generated"] == 0 and rows[name]["composition"]["real"] > 0
    # Same images, same seed, same batches: only the training method differs, so the results do.
    tests = {name: rows[name]["cells"][0]["test"]["auroc"] for name in rows}
    assert len(set(tests.values())) > 1


def test_training_extras_follow_the_recipe_and_stain_statistics_come_from_the_real_split() -> None:
    from augdiff.data.spec import Split

    images = np.random.default_rng(0).integers(0, 255, (6, 8, 8, 3), dtype=np.uint8)
    real = Split("train", ["a", "b"], images, np.array([0, 1] * 3), [str(i) for i in range(6)])
    assert recipes.training_extras(recipes.get_recipe("real"), real) is None
    mix = recipes.training_extras(recipes.get_recipe("cutmix"), real)
    assert isinstance(mix, TrainingExtras) and mix.batch_mix is not None and mix.batch_mix.kind == "cutmix"
    stain = recipes.training_extras(recipes.get_recipe("stain"), real)
    assert stain is not None and stain.augment is not None
    out = stain.augment(3)(image=images[0])["image"]
    assert out.shape == images[0].shape and out.dtype == np.uint8
