"""One resolved plan per run: the data loaded once per size, each fitted model read once, sets reused by request."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from bench_helpers import TinyGen

from augdiff import plugins, workflow
from augdiff.benchmark import protocol, recipes
from augdiff.data.spec import DataOptions, DatasetSpec
from augdiff.plan import RunPlan, plan_generator


def _tiny_plan(tmp_path, **kw):
    return plan_generator("tiny-gen", "tiny-data", DataOptions(seed=0), profile="smoke", seed=0,
                          runs_dir=tmp_path / "runs", **kw)


def test_generated_sets_live_in_the_run_store_and_are_reused(tiny_plugin, tmp_path):
    plan = _tiny_plan(tmp_path)
    first = workflow.augment(plan, n=24).generated
    assert len(first) == 24 and tiny_plugin.generate_calls == 1
    assert first.directory.parent == tmp_path / "runs" / "tiny-data" / "tiny-gen" / "sets"
    assert first.directory.name.startswith(f"{plan.fit_run_id}-n24-")
    again = workflow.augment(_tiny_plan(tmp_path), n=24).generated
    assert again.directory == first.directory and tiny_plugin.generate_calls == 1
    workflow.augment(_tiny_plan(tmp_path), n=10)
    assert tiny_plugin.generate_calls == 2


@pytest.fixture
def counted(tiny_plugin, monkeypatch):
    """Counts every load of the real dataset (by image size) and every read of a fitted tiny-gen from disk."""
    loads: Counter[int | None] = Counter()
    reads: list[str] = []
    get_dataset = plugins.get_dataset

    def counting_get_dataset(name):
        spec = get_dataset(name)

        def load(options):
            loads[options.size] += 1
            return spec.load(options)

        return DatasetSpec(spec.name, load, spec.description)

    original_load = TinyGen.load.__func__

    def counting_load(cls, directory):
        reads.append(str(directory))
        return original_load(cls, directory)

    monkeypatch.setattr(plugins, "get_dataset", counting_get_dataset)
    monkeypatch.setattr(TinyGen, "load", classmethod(counting_load))
    return loads, reads


def test_one_benchmark_loads_the_data_once_per_size_and_reads_each_fit_once(counted, tmp_path):
    loads, reads = counted
    # A finished fit on disk, so that the benchmark must read it back to sample its two sets.
    fitted = workflow.fit(_tiny_plan(tmp_path))
    assert not fitted.reused and reads == []
    loads.clear()
    recipes.register_recipe(recipes.Recipe("plus-30", "real + 30 generated", real=True, generated="total", count=30))
    try:
        opts = protocol.BenchmarkOptions(
            data="tiny-data", data_options=DataOptions(seed=0), profile="smoke", generators=["tiny-gen"],
            sets=["mixed", "plus-30"], seeds=1, steps=2, out=tmp_path / "bench", runs_dir=tmp_path / "runs",
            metrics=[])
        result = protocol.run_benchmark(opts)
    finally:
        recipes.RECIPES.pop("plus-30")
    assert [s["name"] for s in result.report["sets"]] == ["real", "tiny-gen/mixed", "tiny-gen/plus-30"]
    # The classifier's size (16 px at the smoke profile) and the generator's (8 px): each loaded once.
    assert loads == {16: 1, 8: 1}
    # Two generated sets (24 and 30 images) from one fit: its model is read from disk once.
    assert reads == [str(fitted.run_dir / workflow.MODEL_DIR)]
    # A second run reuses both sets: nothing to sample, so the fit is not read at all.
    loads.clear()
    reads.clear()
    recipes.register_recipe(recipes.Recipe("plus-30", "real + 30 generated", real=True, generated="total", count=30))
    try:
        protocol.run_benchmark(opts)
    finally:
        recipes.RECIPES.pop("plus-30")
    assert loads == {16: 1, 8: 1} and reads == []


def test_a_fit_made_in_this_run_is_not_read_back(counted, tmp_path):
    loads, reads = counted
    plan = _tiny_plan(tmp_path)
    workflow.augment(plan, n=24)
    workflow.augment(plan, n=10)
    assert reads == [] and loads == {8: 1}


def test_a_run_plan_shares_its_data_between_generators_variants_and_fit_seeds(counted, tmp_path):
    loads, _ = counted
    run = RunPlan("tiny-data", DataOptions(seed=0), "smoke", 0, tmp_path / "runs")
    base = run.generator("tiny-gen")
    variant = run.generator("tiny-gen", {"noise": 20.0})
    other_seed = run.generator("tiny-gen", seed=1)
    assert loads == {8: 1}
    assert len({base.fit_run_id, variant.fit_run_id, other_seed.fit_run_id}) == 3
    assert base.data is variant.data is other_seed.data
    assert variant.sampling_config["noise"] == 20.0 and other_seed.seed == 1


class RenamedGen(TinyGen):
    """tiny-gen after renaming its option ``sigma`` to ``noise``."""

    name = "renamed-gen"
    renamed_options = {"sigma": "noise"}


def test_a_renamed_option_keeps_fit_ids_saved_configs_and_set_working(tmp_path, capsys):
    # --set under the old name: taken under the new one, with a note naming both.
    assert RenamedGen.check_overrides("smoke", {"sigma": 3.0}) == {"noise": 3.0}
    assert "now calls this option noise" in capsys.readouterr().err
    # The identity (what names fits and sets) keeps the old name, so a rename leaves every run id as it was.
    assert RenamedGen.identity({"image_size": 8, "noise": 3.0}) == {"image_size": 8, "sigma": 3.0}
    # A config.json saved under the old name loads under the new one.
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps(
        {"generator": "renamed-gen", "classes": ["normal", "tumor"], "config": {"image_size": 8, "sigma": 4.0}}))
    (model_dir / "means.json").write_text("[1.0, 2.0]")
    assert RenamedGen.load(model_dir).config == {"image_size": 8, "noise": 4.0}


def test_an_introduced_option_at_its_reproducing_value_keeps_set_keys(tmp_path):
    """add-pro's sets made before ``depth_rule`` existed (the search was the only rule) keep their key, and so
    are reused; another rule is another set."""
    from augdiff_add.generator import AddProGenerator

    config = AddProGenerator.default_config("smoke")
    assert config["depth_rule"] == "search"
    identity = AddProGenerator.identity(config)
    assert "depth_rule" not in identity and "repeat_eta" not in identity
    assert AddProGenerator.identity({**config, "depth_rule": "spread"})["depth_rule"] == "spread"
    run = RunPlan("synth-histo", DataOptions(seed=0), "smoke", 0, tmp_path / "runs")
    keys = {workflow.set_request(run.generator("add-pro", overrides), 50)[1]
            for overrides in ({}, {"depth_rule": "search"}, {"depth_rule": "spread"})}
    assert len(keys) == 2


def test_add_keeps_its_fit_ids_under_the_shared_key_names(tmp_path):
    """ADD's ``train_steps``/``sample_batch_size`` became ``steps``/``sample_batch``; its fits keep their ids.

    The id below is what augdiff computed before the rename for ``augdiff fit add --data synth-histo --profile
    smoke``: a changed id would orphan every finished ADD fit.
    """
    run = RunPlan("synth-histo", DataOptions(seed=0), "smoke", 0, tmp_path / "runs")
    plan = run.generator("add")
    assert "steps" in plan.fit_config and "train_steps" not in plan.fit_config
    assert plan.fit_identity["train_steps"] == plan.fit_config["steps"]
    assert plan.fit_run_id == "fit-smoke-s0-6b1eb5a9f9"
    assert run.generator("add", {"train_steps": 30}).fit_run_id == plan.fit_run_id
    assert run.generator("add", {"steps": 31}).fit_run_id != plan.fit_run_id
