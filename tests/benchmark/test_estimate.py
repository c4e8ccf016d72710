"""The benchmark's estimate before any work (fits, sampling, classifier cells) and the report's estimate vs actual."""

from __future__ import annotations

import json

from augdiff import atomic, workflow
from augdiff.benchmark import estimate, protocol
from augdiff.data.spec import DataOptions
from augdiff.plan import plan_generator


def _opts(tmp_path, **changes):
    base = dict(data="tiny-data", data_options=DataOptions(seed=0), profile="smoke", generators=["tiny-gen"],
                sets=["mixed"], seeds=1, steps=2, out=tmp_path / "bench", runs_dir=tmp_path / "runs", metrics=[])
    return protocol.BenchmarkOptions(**{**base, **changes})


def _plan(tmp_path):
    return plan_generator("tiny-gen", "tiny-data", DataOptions(seed=0), profile="smoke", seed=0,
                          runs_dir=tmp_path / "runs")


def test_the_estimate_comes_before_any_work_and_the_report_sets_it_against_the_actual(tiny_plugin, tmp_path):
    workflow.fit(_plan(tmp_path))  # a finished fit of this config on record: fit seed 1's estimate rests on it
    messages: list[str] = []
    result = protocol.run_benchmark(_opts(tmp_path, fit_seeds=2), announce=messages.append)
    first_work = next(i for i, m in enumerate(messages) if m.startswith("generated set:"))
    lines = messages[:first_work]
    assert lines[0] == "estimate before any work:"
    fits, sampling, cells, total = lines[1:5]
    assert fits.startswith("  fits: 1 to do, ≈ ") and "tiny-gen: recorded fit of this config" in fits
    assert sampling.startswith("  sampling: 2 to do, unknown (2 × tiny-gen × 24: unknown")
    assert cells == "  classifier cells: 3 to do, unknown (not measured at the smoke profile)"
    assert total.startswith("  total ≈ ") and "unknown sampling, classifier cells" in total
    timing = result.report["timing"]
    assert timing["fits"]["count"] == 1 and timing["fits"]["estimate"] is not None
    assert timing["sampling"] == {**timing["sampling"], "count": 2, "unknown": 2, "estimate": None}
    assert timing["cells"]["actual"] > 0 and timing["sampling"]["actual"] >= 0
    assert timing["total"] >= timing["cells"]["actual"] + timing["sampling"]["actual"]
    md = (result.out_dir / "report.md").read_text()
    assert "- time, estimated before any work → actual: fits ≈ " in md and "; sampling unknown → " in md

    # Now a set of this sampling config is on record: a third fit seed's sampling is estimated from it.
    messages.clear()
    protocol.run_benchmark(_opts(tmp_path, fit_seeds=3), announce=messages.append)
    sampling = next(m for m in messages if m.startswith("  sampling:"))
    assert sampling.startswith("  sampling: 1 to do, ≈ ") and "s per image on record" in sampling
    assert next(m for m in messages if m.startswith("  classifier cells:")).startswith("  classifier cells: 1 to do")


def test_a_fit_is_estimated_from_a_recorded_fit_of_the_same_config_or_other_steps_else_unknown(tiny_plugin,
                                                                                             tmp_path):
    plan = _plan(tmp_path)
    plan.fit_config = {**plan.fit_config, "steps": 100}  # as if tiny-gen had a step count
    assert estimate.fit_seconds(plan)[0] is None and "unknown" in estimate.fit_seconds(plan)[1]

    def record(run_id, steps, seconds, attempts=1):
        atomic.write_json(tmp_path / "runs" / "tiny-data" / "tiny-gen" / run_id / "run.json", {
            "command": "fit", "status": "complete", "config": {**plan.fit_config, "steps": steps},
            "seconds": seconds, "attempts": attempts, "finished": run_id})

    record("a", 50, 30.0)
    assert estimate.fit_seconds(plan) == (60.0, "tiny-gen: recorded fit of 50 steps, scaled to 100")
    record("b", 100, 70.0, attempts=2)  # resumed: its seconds are its last attempt's only
    assert estimate.fit_seconds(plan)[0] == 60.0
    record("c", 100, 80.0)
    assert estimate.fit_seconds(plan) == (80.0, "tiny-gen: recorded fit of this config")
    assert json.loads((tmp_path / "runs" / "tiny-data" / "tiny-gen" / "c" / "run.json").read_text())["seconds"] == 80


def test_cells_are_estimated_from_the_measured_step_outside_the_smoke_profile(tiny_plugin, tmp_path, monkeypatch):
    from bench_helpers import load_tiny

    from augdiff.benchmark import recipes

    calibration = {"seconds_per_step": 0.5, "seconds_per_val": 2.0, "seconds_per_test": 4.0}
    monkeypatch.setattr(protocol, "calibrate", lambda *a, **k: calibration)
    opts = _opts(tmp_path, profile="cpu")
    config = protocol.classifier_config("cpu", steps=20)
    plan = recipes.plan_sets(["real"], [])[0]
    messages: list[str] = []
    parts = protocol._estimate(opts, config, load_tiny(DataOptions(size=16)), tmp_path / "bench",
                               [(plan, 0, 0), (plan, 0, 1)], [], {}, messages.append)
    expected = protocol.estimate_seconds(config, 2, calibration)
    assert parts["cells"].estimate == expected and parts["cells"].calibration == calibration
    # Per cell 20 × 0.5 s of steps, 7 validations (every 3 steps, and at the end) × 2 s, the test pass 4 s: 28 s.
    assert config.eval_every == 3 and expected == 2 * (20 * 0.5 + 7 * 2.0 + 4.0)
    assert "  classifier cells: 2 to do, ≈ 56 s (20 steps each, measured 0.500 s/step and " \
           "2.00 s per validation pass)" in messages
