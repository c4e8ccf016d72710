"""stain-jitter: the classical baseline keeps labels, varies colour within the fitted spread, is seeded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from augdiff_stain_jitter.generator import StainJitter, colour_statistics

from augdiff.cli import app
from augdiff.data.spec import Split


def _split(n: int = 40, size: int = 16) -> Split:
    rng = np.random.default_rng(0)
    base = np.array([[200, 120, 170], [120, 60, 150]], dtype=np.float32)  # pink stroma, purple nuclei
    labels = np.arange(n) % 2
    images = base[labels][:, None, None, :] + rng.normal(0, 12, (n, size, size, 3))
    return Split("train", ["normal", "tumor"], images.clip(0, 255).astype(np.uint8), labels,
                 [f"img{i}.png" for i in range(n)])


def test_generate_keeps_source_labels_and_is_seeded(tmp_path: Path) -> None:
    split = _split()
    gen = StainJitter.from_profile("smoke", split.classes)
    gen.fit(split, tmp_path, seed=0)
    a, b, c = gen.generate(30, seed=1), gen.generate(30, seed=1), gen.generate(30, seed=2)
    assert a.images.shape == (30, 16, 16, 3) and a.images.dtype == np.uint8
    assert np.array_equal(a.images, b.images) and not np.array_equal(a.images, c.images)
    index = {i: k for k, i in enumerate(split.ids)}
    for prob, meta in zip(a.probs, a.meta):
        assert prob.argmax() == split.labels[index[meta["source"]]] and prob.max() == 1.0
    assert (a.probs.argmax(1) == 0).sum() == 15, "n is spread evenly over the classes"
    only_tumor = gen.generate(7, cls=1, seed=0)
    assert (only_tumor.probs.argmax(1) == 1).all()


def test_jitter_changes_colour_but_stays_near_training_statistics(tmp_path: Path) -> None:
    split = _split()
    gen = StainJitter.from_profile("smoke", split.classes)
    gen.fit(split, tmp_path, seed=0)
    out = gen.generate(200, seed=0)
    real = colour_statistics(split.images)["channel_mean"]
    fake = colour_statistics(out.images)["channel_mean"]
    assert np.abs(np.subtract(real, fake)).max() < 0.12
    sources = {i: k for k, i in enumerate(split.ids)}
    originals = split.images[[sources[m["source"]] for m in out.meta]]
    # Flips/rotations alone preserve each image's mean colour; stain and colour jitter must move it.
    moved = np.abs(out.images.mean((1, 2)) - originals.mean((1, 2))).max(axis=1)
    assert (moved > 2).mean() > 0.5


def test_save_load_round_trip_generates_identical_images(tmp_path: Path) -> None:
    split = _split()
    gen = StainJitter.from_profile("smoke", split.classes)
    gen.fit(split, tmp_path, seed=0)
    gen.save(tmp_path / "model")
    again = StainJitter.load(tmp_path / "model")
    assert again.stats == json.loads((tmp_path / "model" / "colour_stats.json").read_text())
    assert np.array_equal(gen.generate(10, seed=4).images, again.generate(10, seed=4).images)


def test_cli_augment_writes_pngs_and_manifest(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "set"
    result = runner.invoke(app, ["augment", "--generator", "stain-jitter", "--data", "synth-histo", "--n", "50",
                                 "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["n"] == 50 and sum(summary["counts"].values()) == 50
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == 50 and len(list((out / "images").glob("*.png"))) == 50
    assert {"file", "probs", "generator", "seed", "source"} <= set(records[0])
    assert set(records[0]["probs"]) == {"normal", "tumor"}
    run = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    assert run["status"] == "complete" and run["command"] == "augment" and run["data_fingerprint"]
