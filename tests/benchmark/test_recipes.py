"""The set recipes: each recipe's composition, soft labels carried through, manifests."""

from __future__ import annotations

import json

import numpy as np
import pytest
from bench_helpers import CLASSES, tiny_split

from augdiff.benchmark import recipes
from augdiff.errors import AugdiffError
from augdiff.generator import Samples, one_hot, write_generated_set


@pytest.fixture
def real():
    return tiny_split("train", 10, 8, seed=0)


@pytest.fixture
def hard_set(tmp_path):
    """40 generated images, 20 per class in class blocks, at a different size (12 px) than the real split."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 20)
    samples = Samples(rng.integers(0, 255, (40, 12, 12, 3), dtype=np.uint8), one_hot(labels, 2),
                      [{"source": f"s{i}"} for i in range(40)])
    return write_generated_set(samples, tmp_path / "gen", classes=CLASSES, generator="g", seed=7)


@pytest.fixture
def soft_set(tmp_path):
    levels = np.tile(np.linspace(0.1, 1.0, 10), 3).astype(np.float32)
    probs = np.stack([1 - levels, levels], axis=1)
    samples = Samples(np.zeros((30, 8, 8, 3), np.uint8), probs, [{"level": float(v)} for v in levels])
    return write_generated_set(samples, tmp_path / "pro", classes=CLASSES, generator="add-pro", seed=3)


def test_baseline_is_the_real_split_with_one_hot_labels(real):
    ts = recipes.build_set(recipes.SetPlan(recipes.RECIPES["real"], None), real)
    assert ts.composition() == {"size": 20, "real": 20, "generated": 0, "distinct": 0,
                                "per_class": {"normal": 10, "tumor": 10}, "soft": 0, "filtered": 0}
    np.testing.assert_array_equal(ts.probs, one_hot(real.labels, 2))
    assert [r["id"] for r in ts.records] == real.ids
    assert all(r["origin"] == "real" for r in ts.records)


def test_synthetic_uses_n_generated_per_class_and_no_real(real, hard_set):
    ts = recipes.build_set(recipes.SetPlan(recipes.RECIPES["synthetic"], "g"), real, hard_set)
    # N defaults to the real count per class (10), taken from each class of the 20-per-class generated set.
    assert ts.composition()["real"] == 0
    assert ts.composition()["per_class"] == {"normal": 10, "tumor": 10}
    assert ts.images.shape == (20, 8, 8, 3)  # resized to the real images' size
    files = [r["file"] for r in ts.records]
    assert files[:10] == [str(hard_set.directory / hard_set.records[i]["file"]) for i in range(10)]
    assert files[10:] == [str(hard_set.directory / hard_set.records[i]["file"]) for i in range(20, 30)]
    assert {(r["origin"], r["generator"], r["seed"]) for r in ts.records} == {("generated", "g", 7)}


def test_mixed_is_real_plus_n_per_class(real, hard_set):
    ts = recipes.build_set(recipes.SetPlan(recipes.RECIPES["mixed"], "g"), real, hard_set)
    comp = ts.composition()
    assert (comp["real"], comp["generated"], comp["per_class"]) == (20, 20, {"normal": 20, "tumor": 20})
    np.testing.assert_array_equal(ts.images[:20], real.images)


def test_total_recipes_and_user_recipes(real, hard_set):
    assert recipes.RECIPES["aug-5000"].generated_total(real.counts()) == 5000
    assert recipes.RECIPES["mixed"].generated_total(real.counts()) == 20
    recipe = recipes.Recipe("plus-30", "real + 30 generated", real=True, generated="total", count=30)
    recipes.register_recipe(recipe)
    try:
        with pytest.raises(AugdiffError, match="already exists"):
            recipes.register_recipe(recipe)
        ts = recipes.build_set(recipes.SetPlan(recipe, "g"), real, hard_set)
        assert ts.composition()["generated"] == 30 and len(ts) == 50
        assert "plus-30" in [p.recipe.name for p in recipes.plan_sets(None, ["g"])]
        too_big = recipes.Recipe("plus-99", "", real=True, generated="total", count=99)
        with pytest.raises(AugdiffError, match="needs 99"):
            recipes.build_set(recipes.SetPlan(too_big, "g"), real, hard_set)
    finally:
        recipes.RECIPES.pop("plus-30")


def test_progressive_keeps_soft_labels_and_provenance(real, soft_set, tmp_path):
    recipe = recipes.Recipe("pro-30", "", real=True, generated="total", count=30, only=("add-pro",))
    ts = recipes.build_set(recipes.SetPlan(recipe, "add-pro"), real, soft_set)
    np.testing.assert_allclose(ts.probs[20:], soft_set.probs(), atol=1e-6)
    assert ts.composition()["soft"] == 27  # levels 0.1 … 0.9 of each of 3 sources; 1.0 is one-hot
    ts.write_manifest(tmp_path / "m.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert len(rows) == 50 and rows[25]["level"] == pytest.approx(0.6) and rows[25]["probs"]["tumor"] == 0.6


def test_plan_sets_baseline_first_and_progressive_only_for_add_pro():
    plans = [p.name for p in recipes.plan_sets(None, ["g", "add-pro"])]
    assert plans[0] == "real"
    assert {"g/synthetic", "g/mixed", "g/aug-5000", "add-pro/progressive"} <= set(plans)
    assert "g/progressive" not in plans and "add-pro/mixed" not in plans
    assert [p.name for p in recipes.plan_sets(["mixed"], ["g"])] == ["real", "g/mixed"]
    with pytest.raises(AugdiffError, match="unknown set recipe 'nope'"):
        recipes.plan_sets(["nope"], ["g"])


def test_missing_classes_names_what_a_one_directional_generator_cannot_supply(tmp_path):
    from augdiff.generator import GeneratedSet

    only_tumor = GeneratedSet(tmp_path, ["normal", "tumor"],
                              [{"file": f"{i}.png", "probs": {"normal": 0.2, "tumor": 0.8}} for i in range(4)])
    assert recipes.missing_classes(recipes.get_recipe("mixed"), only_tumor) == ["normal"]
    assert recipes.missing_classes(recipes.get_recipe("aug-5000"), only_tumor) == []  # a total count needs no class
    assert recipes.missing_classes(recipes.get_recipe("real"), None) == []


def test_a_set_counts_its_distinct_generated_images_from_the_pixel_hashes(real, tmp_path):
    # Two images repeated: 20 generated images, 2 distinct (one per class).
    labels = np.repeat([0, 1], 10)
    images = np.stack([np.full((8, 8, 3), 60 + 100 * c, np.uint8) for c in labels])
    repeated = write_generated_set(Samples(images, one_hot(labels, 2)), tmp_path / "rep", classes=CLASSES,
                                   generator="g", seed=0)
    ts = recipes.build_set(recipes.SetPlan(recipes.RECIPES["mixed"], "g"), real, repeated)
    assert ts.composition()["generated"] == 20 and ts.composition()["distinct"] == 2
    assert len({r["pixels"] for r in ts.records if r["origin"] == "generated"}) == 2
    # A set written before manifests carried the hash: computed from the pixels, same answer.
    for r in repeated.records:
        del r["pixels"]
    again = recipes.build_set(recipes.SetPlan(recipes.RECIPES["mixed"], "g"), real, repeated)
    assert again.composition()["distinct"] == 2
    assert [r.get("pixels") for r in again.records] == [r.get("pixels") for r in ts.records]
