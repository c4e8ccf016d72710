"""The real-data teacher: its filter and relabelling rules, and both inside a benchmark."""

from __future__ import annotations

import numpy as np
import pytest

from augdiff.benchmark import protocol
from augdiff.benchmark.teacher import TeacherRule, parse_rule
from augdiff.data.spec import DataOptions
from augdiff.errors import AugdiffError


def test_filter_keeps_labels_within_the_tolerance_and_relabel_replaces_them():
    labels = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [0.2, 0.8]], dtype=np.float32)
    teacher = np.array([[0.9, 0.1], [0.9, 0.1], [0.7, 0.3], [0.7, 0.3]], dtype=np.float32)
    keep, kept_labels = TeacherRule("filter", 0.4).apply(labels, teacher)
    assert keep.tolist() == [True, True, False, False]  # gaps 0.1, 0.4, 0.7, 0.5
    assert kept_labels is labels
    keep, new = TeacherRule("relabel").apply(labels, teacher)
    assert keep.all() and np.array_equal(new, teacher)
    assert parse_rule("none") is None and parse_rule(None) is None
    with pytest.raises(AugdiffError, match="--teacher vote"):
        parse_rule("vote")
    with pytest.raises(AugdiffError, match="--teacher-tolerance 0"):
        parse_rule("filter", 0.0)


def _opts(tmp_path, **changes):
    base = dict(data="tiny-data", data_options=DataOptions(seed=0), profile="smoke", generators=["tiny-gen"],
                sets=["mixed"], seeds=1, steps=40, out=tmp_path / "bench", runs_dir=tmp_path / "runs", metrics=[],
                generator_options={"tiny-gen": {"mislabel": 0.25}})
    return protocol.BenchmarkOptions(**{**base, **changes})


def test_teacher_filter_drops_the_mislabelled_generated_images(tiny_plugin, tmp_path):
    # tiny-gen labels a quarter of each class's images as the other class; a teacher trained on the separable
    # real split contradicts exactly those.
    plain = protocol.run_benchmark(_opts(tmp_path))
    mixed = plain.report["sets"][1]["composition"]
    assert mixed["generated"] == 24 and mixed["filtered"] == 0
    result = protocol.run_benchmark(_opts(tmp_path, teacher="filter"))
    composition = result.report["sets"][1]["composition"]
    assert composition["filtered"] == 6 and composition["generated"] == 18
    assert result.report["regime"]["teacher"] == "filter0.5"
    assert any(n.startswith("teacher: ") for n in result.report["notes"])
    assert "kept only within 0.5 of a real-only classifier" in (result.out_dir / "report.md").read_text()
    # The teacher is trained once per output folder and reused: a second run trains nothing new.
    assert len(list((result.out_dir / "teacher").glob("teacher-*.safetensors"))) == 1
    relabel = protocol.run_benchmark(_opts(tmp_path, teacher="relabel"))
    composition = relabel.report["sets"][1]["composition"]
    assert composition["filtered"] == 0 and composition["soft"] == 24
    manifest = (relabel.out_dir / "sets" / "tiny-gen__mixed.jsonl").read_text()
    assert manifest.count('"label_from": "teacher"') == 24
