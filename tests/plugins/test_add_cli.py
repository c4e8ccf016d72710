"""End to end: `augdiff fit add` then `augdiff augment --generator add-pro` on synth-histo (smoke profile)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from augdiff_add.generator import AddGenerator, AddProGenerator
from PIL import Image

from augdiff import workflow
from augdiff.cli import app
from augdiff.errors import AugdiffError
from augdiff.generator import read_generated_set

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One smoke fit through the CLI, shared by the tests below (fitting is the slow part)."""
    from typer.testing import CliRunner

    runs = tmp_path_factory.mktemp("add-runs")
    fit = CliRunner().invoke(app, ["fit", "add", "--data", "synth-histo", "--profile", "smoke", "--json",
                                   "--runs-dir", str(runs)])
    assert fit.exit_code == 0, fit.output
    assert json.loads(fit.stdout)["reused"] is False
    return runs


@pytest.fixture(scope="module")
def fitted(runs: Path) -> Path:
    (run_dir,) = (runs / "synth-histo" / "add").glob("fit-smoke-*")
    return run_dir


def test_fit_then_augment_add_pro_writes_soft_labelled_progressive_set(runner, runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "set"
    res = runner.invoke(app, ["augment", "--generator", "add-pro", "--data", "synth-histo", "--profile", "smoke",
                              "--n", "100", "--out", str(out), "--runs-dir", str(runs), "--json"])
    assert res.exit_code == 0, res.output
    generated = read_generated_set(out)
    assert len(list((out / "images").glob("*.png"))) == 100 == len(generated)
    probs = generated.probs()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    tumor = probs[:, generated.classes.index("tumor")]
    assert tumor.min() > 0 and tumor.max() == pytest.approx(1.0)  # spread over (0, 1]
    assert len(np.unique(np.round(tumor, 2))) >= 8
    records = generated.records
    assert {r["level_requested"] for r in records} == {round(0.1 * i, 1) for i in range(1, 11)}
    sources = {r["source"] for r in records}
    assert len(sources) == 10 and all(r["source"].startswith("normal") for r in records)
    for source in sources:  # deeper bridges give larger labels within a source
        rows = sorted((r for r in records if r["source"] == source), key=lambda r: r["level_requested"])
        assert [r["depth"] for r in rows] == sorted(r["depth"] for r in rows)
    strips = sorted((out / "strips").rglob("*.png"))
    assert len(strips) == 10 and (out / "strips.png").is_file()
    width = Image.open(strips[0]).size[0]
    assert width >= 11 * 64  # source + 10 levels (+ the final translation when no level reached it)


def test_add_pro_loads_from_the_add_fit_and_labels_images(fitted: Path) -> None:
    gen = AddProGenerator.load(fitted / workflow.MODEL_DIR)
    samples = gen.generate(12, seed=3)
    assert len(samples) == 12 and samples.images.shape[1:] == (16, 16, 3)
    assert [m["level_requested"] for m in samples.meta[:10]] == [round(0.1 * i, 1) for i in range(1, 11)]
    assert samples.meta[10]["source"] != samples.meta[0]["source"]
    # label(): Eq. 9 against the domain statistics of the saved training images.
    a_imgs, b_imgs = gen.train_images[0][0][:20], gen.train_images[1][0][:20]
    p_a, p_b = gen.label(a_imgs), gen.label(b_imgs)
    assert p_a[:, 1].mean() < p_b[:, 1].mean()
    # The reference rule runs on the same fit and keeps its labels at the requested levels.
    gen.config["measure"] = "reference"
    ref = gen.generate(10, seed=3)
    assert [m["level"] for m in ref.meta] == [round(0.1 * i, 1) for i in range(1, 11)]


def test_add_generates_final_state_translations_with_target_labels(fitted: Path) -> None:
    gen = AddGenerator.load(fitted / workflow.MODEL_DIR)
    samples = gen.generate(3, seed=0)
    assert samples.probs.tolist() == [[0.0, 1.0]] * 3
    with pytest.raises(AugdiffError, match="bidirectional"):
        gen.generate(2, cls=gen.classes.index("normal"))


def test_weights_of_the_wrong_attention_kind_are_refused(fitted: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for f in (fitted / workflow.MODEL_DIR).iterdir():
        (model_dir / f.name).write_bytes(f.read_bytes())
    # Swap the files: the decoder (local) slot now holds the encoder's global-attention weights.
    (model_dir / "class1-local.safetensors").write_bytes((model_dir / "class0-global.safetensors").read_bytes())
    with pytest.raises(AugdiffError, match="global"):
        AddProGenerator.load(model_dir)


def test_unknown_domain_class_is_a_one_line_error(runner) -> None:
    res = runner.invoke(app, ["fit", "add", "--data", "synth-histo", "--profile", "smoke",
                              "--set", "source_class=benign"])
    assert res.exit_code == 2 and "source_class=benign" in res.output


def test_an_unexpected_error_is_one_line_naming_the_step_and_the_saved_traceback(
    runner, runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from augdiff_add import depth

    def broken(*args, **kwargs):
        raise KeyError((62, 5))

    monkeypatch.setattr(depth, "search_depths", broken)
    res = runner.invoke(app, ["augment", "--generator", "add-pro", "--data", "synth-histo", "--profile", "smoke",
                              "--n", "20", "--out", str(tmp_path / "set"), "--runs-dir", str(runs), "--json"])
    assert res.exit_code == 1
    (line,) = res.output.strip().splitlines()
    assert line.startswith("error: internal error while add-pro: depth search over sources normal")
    assert "KeyError: (62, 5)" in line and "AUGDIFF_DEBUG=1" in line
    report = Path(line.split("traceback saved to ")[1].split(";")[0])
    assert "search_depths" in report.read_text() or "broken" in report.read_text()
    assert not (tmp_path / "set").exists()


def test_add_never_repeats_an_image_when_sources_run_out(fitted: Path) -> None:
    from augdiff.generated_set import pixel_hash

    gen = AddGenerator.load(fitted / workflow.MODEL_DIR)
    images, ids = gen.train_images[0]
    gen.train_images[0] = (images[:3], ids[:3])  # three sources for seven images: passes 0, 0, 0, 1, 1, 1, 2
    samples = gen.generate(7, seed=4)
    assert len({pixel_hash(img) for img in samples.images}) == 7
    assert [m.get("pass", 0) for m in samples.meta] == [0, 0, 0, 1, 1, 1, 2]
    first = gen.generate(3, seed=4)  # the first pass is the deterministic (η = 0) translation
    np.testing.assert_array_equal(first.images, samples.images[:3])
    np.testing.assert_array_equal(gen.generate(7, seed=4).images, samples.images)  # seeded
