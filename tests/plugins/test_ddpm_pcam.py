"""ddpm-pcam: the paper's U-Net, one DDPM per class behind fit/augment, save/load, and the Table 2 ablation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from augdiff_ddpm_pcam.evaluation import fold_indices, pair_ssim, pixel_bce, score_folds
from augdiff_ddpm_pcam.generator import DDPMPCam
from augdiff_ddpm_pcam.unet import PaperUNet, count_parameters, paper_attention_positions
from PIL import Image
from typer.testing import CliRunner

from augdiff.cli import app
from augdiff.data.spec import Split
from augdiff.errors import AugdiffError
from augdiff.generator import read_generated_set

SMOKE = ["--data", "synth-histo", "--profile", "smoke"]


@pytest.mark.parametrize(
    ("widths", "size", "attention"),
    [([8, 16], 8, []), ([8, 16, 32], 16, [1, 3, 5]), ([4, 8, 16, 32], 16, [2, 6]), ([8, 16, 32], 32, [2, 4])],
)
def test_unet_keeps_the_image_shape(widths: list[int], size: int, attention: list[int]) -> None:
    model = PaperUNet(widths, time_dim=16, attention=attention).eval()
    x = torch.randn(3, 3, size, size)
    out = model(x, torch.tensor([0, 5, 99]))
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_unet_time_embedding_changes_the_output() -> None:
    model = PaperUNet([8, 16], time_dim=16).eval()
    x = torch.randn(1, 3, 8, 8).expand(2, -1, -1, -1)
    out = model(x, torch.tensor([1, 500]))
    assert not torch.allclose(out[0], out[1])


def test_paper_model_has_the_notebooks_parameter_count() -> None:
    assert count_parameters(PaperUNet()) == 32_785_286  # "32.8 M parameters without attention"
    assert paper_attention_positions(4) == [2, 4, 6, 8]  # encoder 2 and 4, decoder 6 and 8
    assert paper_attention_positions(2) == [2, 4]


def test_attention_positions_add_parameters_where_asked() -> None:
    widths = [8, 16, 32]
    none, one, paper = (count_parameters(PaperUNet(widths, time_dim=16, attention=a)) for a in ([], [1], [2, 4]))
    # A block on width C adds LayerNorm (2C) + qkv (3C² + 3C) + proj (C² + C) + FF (2C + 2C² + 2C).
    assert one - none == 6 * 8 * 8 + 10 * 8
    assert paper - none == 2 * (6 * 16 * 16 + 10 * 16)
    with pytest.raises(ValueError, match="do not exist"):
        PaperUNet(widths, attention=[6])


def test_channels_last_model_matches_the_plain_one() -> None:
    torch.manual_seed(0)
    plain = PaperUNet([8, 16], time_dim=16, attention=[1]).eval()
    fast = PaperUNet([8, 16], time_dim=16, attention=[1], channels_last=True).eval()
    fast.load_state_dict(plain.state_dict())
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([3, 7])
    torch.testing.assert_close(fast(x, t), plain(x, t), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("image_size", 10, "divisible by 2\\*\\*2"), ("attention", [9], "does not exist"),
     ("schedule", "sigmoid", "choose one of"), ("attention", "some", "use none, self")],
)
def test_bad_config_names_the_option(key: str, value: object, message: str) -> None:
    with pytest.raises(AugdiffError, match=message):
        DDPMPCam.from_profile("smoke", ["a", "b"], {key: value})


def _split(n: int = 24, size: int = 16) -> Split:
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 2
    base = np.array([[220, 170, 200], [110, 50, 140]], dtype=np.float32)
    images = (base[labels][:, None, None, :] + rng.normal(0, 10, (n, size, size, 3))).clip(0, 255)
    return Split("train", ["normal", "tumor"], images.astype(np.uint8), labels, [str(i) for i in range(n)])


def test_fit_per_class_resume_and_save_load_round_trip(tmp_path: Path) -> None:
    gen = DDPMPCam.from_profile("smoke", ["normal", "tumor"], {"steps": 6, "checkpoint_every": 3})
    gen.fit(_split(), tmp_path / "work", seed=0)
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["normal", "tumor"]
    assert (tmp_path / "work" / "tumor" / "checkpoints" / "step-00000006.pt").is_file()
    gen.config["sample_steps"] = 4
    a = gen.generate(5, seed=7)
    assert a.images.shape == (5, 16, 16, 3) and a.images.dtype == np.uint8
    assert a.probs.tolist() == [[1, 0]] * 3 + [[0, 1]] * 2, "one-hot of the model that drew each image"
    assert a.meta[0] == {"model": "normal", "sampler": "ddim-4"}

    gen.save(tmp_path / "model")
    loaded = DDPMPCam.load(tmp_path / "model")
    assert loaded.config == gen.config and loaded.classes == gen.classes
    b = loaded.generate(5, seed=7)
    assert np.array_equal(a.images, b.images), "saved EMA weights give the same samples for a seed"
    assert not np.array_equal(a.images, loaded.generate(5, seed=8).images)

    # A finished fit resumes at its last checkpoint: nothing is retrained, the weights stay the same.
    again = DDPMPCam(gen.config, gen.classes)
    again.fit(_split(), tmp_path / "work", seed=0)
    assert np.array_equal(again.generate(5, seed=7).images, a.images)


def test_load_without_weights_says_what_to_do(tmp_path: Path) -> None:
    gen = DDPMPCam.from_profile("smoke", ["normal", "tumor"])
    gen.save(tmp_path)  # config only: nothing was fitted
    with pytest.raises(AugdiffError, match="missing weights"):
        DDPMPCam.load(tmp_path)


def test_ssim_and_bce_follow_their_definitions() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    assert pair_ssim(a, a) == pytest.approx(1.0, abs=1e-5)
    assert abs(pair_ssim(a, b)) < 0.1, "independent noise images share no structure"
    y = a.astype(np.float64) / 255
    p = np.clip(y, 1e-6, 1 - 1e-6)
    entropy = float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
    assert pixel_bce(a, a) == pytest.approx(entropy, rel=1e-3), "the floor is the real pixels' entropy"
    assert pixel_bce(b, a) > pixel_bce(a, a)
    folds = fold_indices(23, np.random.default_rng(1))
    assert len(folds) == 5 and sorted(np.concatenate(folds).tolist()) == list(range(23))
    scores = score_folds(np.concatenate([a, a, a, a])[:23], np.concatenate([a, a, a, a])[:23],
                         [np.arange(5 * k, min(5 * k + 5, 23)) for k in range(5)])
    assert scores.ssim_mean == pytest.approx(1.0, abs=1e-5)


@pytest.fixture(scope="module")
def fitted_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("ddpm-runs")
    result = CliRunner().invoke(app, ["fit", "ddpm-pcam", *SMOKE, "--runs-dir", str(runs), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["reused"] is False
    return runs


def test_cli_augment_writes_both_classes(runner: CliRunner, fitted_runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "set"
    result = runner.invoke(app, ["augment", "--generator", "ddpm-pcam", *SMOKE, "--n", "16", "--out", str(out),
                                 "--runs-dir", str(fitted_runs), "--json"])
    assert result.exit_code == 0, result.output
    generated = read_generated_set(out)
    assert len(generated) == 16 and generated.classes == ["normal", "tumor"]
    assert json.loads(result.stdout)["counts"] == {"normal": 8, "tumor": 8}
    assert {r["sampler"] for r in generated.records} == {"ancestral"}
    with Image.open(out / generated.records[0]["file"]) as img:
        assert img.size == (16, 16) and img.mode == "RGB"
    with Image.open(out / "grid-tumor.png") as sheet:  # 8 tiles of 16 px in one row, 2 px gaps, 2x enlarged
        assert sheet.size == (2 * (8 * 16 + 7 * 2), 2 * 16)


def test_cli_steps_samples_with_ddim_from_the_same_fit(runner: CliRunner, fitted_runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddim"
    result = runner.invoke(app, ["augment", "--generator", "ddpm-pcam", *SMOKE, "--n", "4", "--class", "tumor",
                                 "--steps", "5", "--out", str(out), "--runs-dir", str(fitted_runs), "--json"])
    assert result.exit_code == 0, result.output
    generated = read_generated_set(out)
    assert {r["sampler"] for r in generated.records} == {"ddim-5"}
    assert generated.probs().tolist() == [[0.0, 1.0]] * 4
    fits = list((fitted_runs / "synth-histo" / "ddpm-pcam").glob("fit-*"))
    assert len(fits) == 1, "--steps is a sampling option: it must reuse the existing fit"
    bad = runner.invoke(app, ["augment", "--generator", "ddpm-pcam", *SMOKE, "--n", "4", "--steps", "0",
                              "--out", str(tmp_path / "bad"), "--runs-dir", str(fitted_runs)])
    assert bad.exit_code == 2 and "--steps 0" in bad.output and not (tmp_path / "bad").exists()


def test_cli_ablate_smoke_prints_four_rows(runner: CliRunner, tmp_path: Path) -> None:
    args = ["ablate", "ddpm-pcam", *SMOKE, "--n-eval", "10", "--steps", "10", "--set", "steps=8", "--out",
            str(tmp_path / "rep")]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = [(r["schedule"], r["attention"]) for r in report["rows"]]
    assert rows == [("linear", "none"), ("linear", "self"), ("cosine", "none"), ("cosine", "self")]
    assert report["class_name"] == "tumor" and report["eval_images"] == 10 and report["sampler"] == "ddim-10"
    for row in report["rows"]:
        assert len(row["ssim_folds"]) == 5 and -1 <= row["ssim"] <= 1 and row["bce"] > 0
        assert row["features"] == {} and not row["reused"]  # smoke skips Inception
    assert report["rows"][1]["parameters"] > report["rows"][0]["parameters"], "self attention adds blocks"
    assert "| cosine | none |" in (tmp_path / "rep" / "report.md").read_text()
    again = runner.invoke(app, [*args, "--json"])
    assert all(r["reused"] for r in json.loads(again.stdout)["rows"]), "a re-run reuses every finished row"
    bad = runner.invoke(app, ["ablate", "ddpm-pcam", *SMOKE, "--class", "nope"])
    assert bad.exit_code == 2 and "--class nope" in bad.output


def test_ablation_rows_carry_feature_metrics_when_the_profile_asks(monkeypatch, tmp_path) -> None:
    """Rows carry augdiff.metrics results on the same held-out images (memorisation stands in for FID/KID)."""
    import augdiff_ddpm_pcam.ablation as ablation

    from augdiff.data import DataOptions

    monkeypatch.setitem(ablation.FEATURE_METRICS, "smoke", ("memorisation",))
    result = ablation.run_ablation("synth-histo", DataOptions(), profile="smoke", seed=0,
                                   runs_dir=tmp_path / "runs", eval_images=10)
    for row in result.rows:
        assert row.features["memorisation"]["n_fake"] == 10
        assert "memorisation" in ablation.feature_text(row.features)
    assert "memorisation" in result.report.read_text()
