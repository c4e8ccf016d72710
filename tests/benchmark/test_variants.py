"""Generator options, variants and fit seeds in the benchmark, on the test-local generator and dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from augdiff.benchmark import protocol
from augdiff.benchmark.stats import crossed_ci, crossed_detectable
from augdiff.benchmark.variants import Variant, parse_generator_sets
from augdiff.cli import app
from augdiff.data.spec import DataOptions
from augdiff.errors import AugdiffError
from augdiff.plan import plan_generator


def _opts(tmp_path, **changes):
    base = dict(data="tiny-data", data_options=DataOptions(seed=0), profile="smoke", generators=["tiny-gen"],
                sets=["mixed"], seeds=2, steps=2, out=tmp_path / "bench", runs_dir=tmp_path / "runs", metrics=[])
    return protocol.BenchmarkOptions(**{**base, **changes})


def _set_info(report_row_name: str, out: Path, manifest: str) -> dict:
    """set.json of the generated set a training set's manifest drew its generated images from."""
    rows = [json.loads(line) for line in (out / "sets" / manifest).read_text().splitlines()]
    folder = {Path(r["file"]).parent.parent for r in rows if r["origin"] == "generated"}
    assert len(folder) == 1, report_row_name
    return json.loads((folder.pop() / "set.json").read_text())


def test_a_variant_row_trains_with_its_own_options(tiny_plugin, tmp_path):
    opts = _opts(tmp_path, generator_options={"tiny-gen": {"noise": 5.0}},
                 variants=[Variant.parse("tiny-loud=tiny-gen:noise=40")])
    report = protocol.run_benchmark(opts).report
    real, base, loud = report["sets"]
    assert [real["name"], base["name"], loud["name"]] == ["real", "tiny-gen/mixed", "tiny-loud/mixed"]
    # Its own fit: a different run id, fitted with noise 40 (the generator row with its --set noise 5).
    assert base["options"] == {"noise": 5.0} and loud["options"] == {"noise": 40}
    assert loud["installed_generator"] == "tiny-gen" and loud["fit_runs"] != base["fit_runs"]
    runs = tmp_path / "runs" / "tiny-data" / "tiny-gen"
    assert json.loads((runs / loud["fit_runs"][0] / "run.json").read_text())["config"]["noise"] == 40
    assert json.loads((runs / base["fit_runs"][0] / "run.json").read_text())["config"]["noise"] == 5.0
    # Its own generated set, made with its options: the request says so and the pixels show it.
    loud_set = _set_info("loud", opts.out, "tiny-loud__mixed.jsonl")
    base_set = _set_info("base", opts.out, "tiny-gen__mixed.jsonl")
    assert loud_set["config"]["noise"] == 40 and base_set["config"]["noise"] == 5.0
    assert loud_set["fit_run"] == loud["fit_runs"][0]
    # Its own cells, under its own name; the report says what the variant is.
    assert {c["seed_index"] for c in loud["cells"]} == {0, 1}
    assert (opts.out / "cells" / "tiny-loud__mixed" / "seed0.json").is_file()
    assert report["generator_options"]["tiny-loud"] == {"generator": "tiny-gen", "options": {"noise": 40},
                                                       "variant": True}
    md = (opts.out / "report.md").read_text()
    assert "`tiny-loud` = `tiny-gen` with noise=40" in md and "| tiny-loud/mixed |" in md
    assert (opts.out / "samples" / "tiny-loud.png").is_file()


def test_variant_and_set_syntax_and_their_one_line_errors(tiny_plugin, tmp_path):
    v = Variant.parse("add-pro-nohas=add-pro:attention=global,levels=[0.2,0.5],bidirectional=true")
    assert (v.name, v.generator) == ("add-pro-nohas", "add-pro")
    assert v.options == {"attention": "global", "levels": [0.2, 0.5], "bidirectional": True}
    assert parse_generator_sets(["add-pro.attention=global", "add.steps=10"]) == {
        "add-pro": {"attention": "global"}, "add": {"steps": 10}}
    for bad in ("nohas", "=add-pro:a=1", "no has=add-pro:a=1", "x=:a=1", "x=add-pro:a"):
        with pytest.raises(AugdiffError, match="--variant"):
            Variant.parse(bad)
    with pytest.raises(AugdiffError, match=r"--set 'steps=10': the benchmark takes GENERATOR\.KEY=VALUE"):
        parse_generator_sets(["steps=10"])
    cases = [
        ({"variants": [Variant("x", "nope", {"noise": 1})]}, "--variant x: unknown generator 'nope'"),
        ({"variants": [Variant("tiny-gen", "tiny-gen", {"noise": 1})]}, "--variant tiny-gen: the name is already"),
        ({"variants": [Variant("same", "tiny-gen", {})]}, "--variant same: has the same options as tiny-gen"),
        ({"generator_options": {"other": {"noise": 1}}}, "--set other.noise: 'other' is not a benchmarked"),
    ]
    for changes, message in cases:
        with pytest.raises(AugdiffError, match=message):
            protocol.run_benchmark(_opts(tmp_path, **changes))


def test_bad_keys_and_values_give_the_error_augment_set_gives(tiny_plugin, runner, tmp_path):
    bench = ["benchmark", "--data", "tiny-data", "--profile", "smoke", "--generators", "tiny-gen", "--sets", "mixed",
             "--seeds", "1", "--steps", "1", "--out", str(tmp_path / "b")]
    augment = ["augment", "--generator", "tiny-gen", "--data", "tiny-data", "--profile", "smoke", "--n", "4"]
    for option, value in (("nois", "3"), ("noise", "abc")):
        expected = runner.invoke(app, [*augment, "--set", f"{option}={value}"])
        assert expected.exit_code == 2
        for args in (["--set", f"tiny-gen.{option}={value}"], ["--variant", f"v=tiny-gen:{option}={value}"]):
            got = runner.invoke(app, [*bench, *args])
            assert got.exit_code == 2 and got.output == expected.output, (args, got.output)
    assert not (tmp_path / "b").exists()  # nothing was written


def test_fit_seeds_reuse_todays_fit_and_cells_and_pair_cells_with_the_baseline_seed(tiny_plugin, tmp_path,
                                                                                      monkeypatch):
    one = protocol.run_benchmark(_opts(tmp_path))
    one_md = (one.out_dir / "report.md").read_text()
    assert protocol.fit_seed_values(0, 3)[0] == 0 and len(set(protocol.fit_seed_values(0, 3))) == 3
    # Fit seed 0 is the fit `augdiff fit --seed 0` makes.
    single = plan_generator("tiny-gen", "tiny-data", DataOptions(seed=0), profile="smoke", seed=0,
                            runs_dir=tmp_path / "runs")
    assert one.report["sets"][1]["fit_runs"] == [single.fit_run_id]

    trained = []
    original = protocol.train_classifier
    monkeypatch.setattr(protocol, "train_classifier", lambda *a, **k: trained.append(k["seed"]) or original(*a, **k))
    two = protocol.run_benchmark(_opts(tmp_path, fit_seeds=2))
    # Only fit seed 1's two cells are new: the baseline and fit seed 0's cells are today's files, reused.
    assert two.trained == 2 and len(trained) == 2
    assert (tmp_path / "bench" / "cells" / "tiny-gen__mixed" / "fit1-seed0.json").is_file()
    real, mixed = two.report["sets"]
    assert mixed["fit_runs"][0] == single.fit_run_id and mixed["fit_runs"][1] != single.fit_run_id
    assert mixed["fit_seeds"] == 2 and real["fit_seeds"] == 1 and len(mixed["cells"]) == 4
    # The interval over fit seeds × classifier seeds, and Δ of cell (j, k) against the baseline's seed k.
    table = np.zeros((2, 2))
    for c in mixed["cells"]:
        table[c["fit_seed_index"], c["seed_index"]] = 100 * c["test"]["accuracy"]
    base = np.array([100 * c["test"]["accuracy"] for c in sorted(real["cells"], key=lambda c: c["seed_index"])])
    assert mixed["summary"]["accuracy"] == crossed_ci(table).to_dict()
    expected = crossed_ci(table - base[None, :]).to_dict()
    assert {k: mixed["vs_baseline"]["accuracy"][k] for k in expected} == expected
    assert mixed["vs_baseline"]["accuracy"]["detectable"] == pytest.approx(crossed_detectable(table - base))
    # The report says which sources of variance its intervals cover.
    assert "generator fits" in two.report["variance"] and "classifier seeds only" in one.report["variance"]
    md = (two.out_dir / "report.md").read_text()
    assert "over 2 fit seeds × 2 classifier seeds, covering both sources of variance" in md
    assert "classifier seeds only" in one_md
    with pytest.raises(AugdiffError, match="--fit-seeds 0"):
        protocol.run_benchmark(_opts(tmp_path, fit_seeds=0))
