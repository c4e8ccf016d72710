"""val_curves.png: per-set validation accuracy against optimiser step, from the cells' recorded histories."""

from __future__ import annotations

from typing import Any

import pytest
from PIL import Image

from augdiff.benchmark import report as report_mod
from augdiff.benchmark.stats import crossed_ci
from augdiff.classify.metrics import METRICS


def _cell(seed_index: int, accuracies: list[float] | None, steps: tuple[int, ...] = (10, 20, 30)) -> dict[str, Any]:
    history = [{"step": s, "train_loss": 0.5, "accuracy": a, "auroc": a} for s, a in zip(steps, accuracies or [],
                                                                                         strict=False)]
    test = dict.fromkeys(METRICS, 0.8)
    return {"seed_index": seed_index, "seed": seed_index, "test": test, "val": test, "best_step": 30,
            "optimizer_steps": 30, "samples_seen": 960, "seconds": 1.0, **({"history": history} if accuracies else {})}


def _row(name: str, cells: list[dict[str, Any]]) -> dict[str, Any]:
    """A report row as build_report writes it (only what report.md and the charts read)."""
    summary = {m: crossed_ci([[100 * c["test"][m] for c in cells]]).to_dict() for m in METRICS}
    return {"name": name, "composition": {"real": 24, "generated": 0}, "summary": summary, "vs_baseline": None,
            "late_best": 0, "fit_seeds": 1, "cells": cells, "val_curve": report_mod.val_curve(cells)}


def _report(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "data": "tiny-data", "data_options": {"root": None, "crop": None}, "image_size": 16,
        "splits": {"train": {"normal": 12, "tumor": 12}, "val": {"normal": 8, "tumor": 8}},
        "classifier": {"classifier": "vit_micro", "parameters": 1000, "pretrained": None, "steps": 30,
                       "batch_size": 32, "lr": 1e-3, "warmup_steps": 5, "precision": "fp32"},
        "regime": {"budget": "steps"}, "selection": report_mod.SELECTION, "confidence": 0.95, "profile": "smoke",
        "base_seed": 0, "seeds": [0, 1], "fit_seeds": [0], "cells_trained": 4, "cells_reused": 0, "seconds": 60.0,
        "sets": rows, "notes": [],
    }


def test_val_curve_is_the_mean_min_and_max_over_cells_with_a_history():
    curve = report_mod.val_curve([_cell(0, [0.5, 0.7, 0.6]), _cell(1, [0.6, 0.9, 0.8]), _cell(2, None)])
    assert curve is not None
    assert curve["steps"] == [10, 20, 30] and curve["cells"] == 2  # the cell without a history is left out
    assert curve["mean"] == pytest.approx([55.0, 80.0, 70.0])
    assert curve["low"] == pytest.approx([50.0, 70.0, 60.0]) and curve["high"] == pytest.approx([60.0, 90.0, 80.0])
    assert curve["best_step"] == 20
    # Only the steps every cell evaluated: each point averages the same cells.
    uneven = report_mod.val_curve([_cell(0, [0.5, 0.7, 0.6]), _cell(1, [0.6, 0.9], steps=(10, 30))])
    assert uneven is not None and uneven["steps"] == [10, 30] and uneven["mean"] == pytest.approx([55.0, 75.0])
    assert report_mod.val_curve([_cell(0, None), _cell(1, None)]) is None


def test_report_writes_and_links_val_curves_and_skips_sets_without_history(tmp_path):
    rows = [_row("real", [_cell(0, [0.5, 0.7, 0.6]), _cell(1, [0.6, 0.9, 0.8])]),
            _row("gen/mixed", [_cell(0, [0.4, 0.6, 0.8]), _cell(1, [0.5, 0.6, 0.9])]),
            _row("old/mixed", [_cell(0, None), _cell(1, None)])]  # cells written before histories were kept
    report = _report(rows)
    assert rows[1]["val_curve"]["best_step"] == 30 and rows[2]["val_curve"] is None
    report_mod.write_report(tmp_path, report, dataset=None, generated={})
    png = tmp_path / "val_curves.png"
    assert png.is_file() and png.stat().st_size > 0
    with Image.open(png) as img:
        assert img.size[0] > 0 and img.size[1] > 0
    md = (tmp_path / "report.md").read_text()
    assert "](val_curves.png)" in md and "had not converged" in md
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temporary file left behind


def test_report_without_any_history_has_no_curves(tmp_path):
    report = _report([_row("real", [_cell(0, None), _cell(1, None)])])
    (tmp_path / "val_curves.png").write_bytes(b"an earlier run's picture")
    report_mod.write_report(tmp_path, report, dataset=None, generated={})
    assert not (tmp_path / "val_curves.png").exists()
    assert "val_curves.png" not in (tmp_path / "report.md").read_text()
    # Reports written before the curves existed have rows without the key.
    del report["sets"][0]["val_curve"]
    assert report_mod.render_val_curves(report) is None
