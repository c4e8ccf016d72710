"""IDDPM plugin: L_vlb terms against closed forms, learned-variance range, hybrid loss, importance sampling,
resume after SIGKILL, CLI."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from augdiff_iddpm.generator import IDDPM
from augdiff_iddpm.losses import (
    HybridLoss,
    LearnedVarianceModel,
    LossAwareTimesteps,
    discretized_gaussian_log_likelihood,
    hybrid_loss_at,
    learned_log_variance,
    normal_kl,
    vlb_terms,
)
from scipy import stats

from augdiff.cli import app
from augdiff.data.spec import Split
from augdiff.diffusion import DDPMSampler, make_schedule, sample
from augdiff.diffusion.models.adm import ADMUNet
from augdiff.generator import read_generated_set
from augdiff.training.checkpoint import latest_checkpoint, load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


TINY = {"image_size": 8, "base_channels": 8, "channel_mult": [1, 2], "num_res_blocks": 1,
        "attention_resolutions": [], "num_head_channels": 8, "num_train_timesteps": 2, "steps": 9,
        "batch_size": 8, "checkpoint_every": 3, "timestep_sampler": "loss-aware", "device": "cpu",
        "sample_steps": 2}


def _split(n: int = 16, size: int = 8) -> Split:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return Split("train", ["a", "b"], images, np.arange(n) % 2, [str(i) for i in range(n)])


# -- closed forms ----------------------------------------------------------------------------------------
def test_kl_of_equal_gaussians_is_zero_and_matches_the_analytic_formula() -> None:
    m, lv = torch.randn(50, dtype=torch.float64), torch.randn(50, dtype=torch.float64)
    assert normal_kl(m, lv, m, lv).abs().max() < 1e-12
    m2, lv2 = torch.randn(50, dtype=torch.float64), torch.randn(50, dtype=torch.float64)
    s1, s2 = torch.exp(0.5 * lv), torch.exp(0.5 * lv2)
    analytic = torch.log(s2 / s1) + (s1**2 + (m - m2) ** 2) / (2 * s2**2) - 0.5
    torch.testing.assert_close(normal_kl(m, lv, m2, lv2), analytic)
    assert bool((normal_kl(m, lv, m2, lv2) >= 0).all())


def test_discretized_log_likelihood_matches_integrating_the_gaussian_over_each_bin() -> None:
    levels = np.array([0, 1, 37, 128, 200, 254, 255])
    x = torch.tensor(levels / 127.5 - 1.0, dtype=torch.float64)
    mean = torch.tensor([-0.98, -1.0, -0.5, 0.01, 0.6, 0.97, 0.9], dtype=torch.float64)
    log_sigma = torch.tensor([-3.0, -5.0, -2.0, -4.0, -1.0, -3.5, -2.5], dtype=torch.float64)
    got = discretized_gaussian_log_likelihood(x, means=mean, log_scales=log_sigma).numpy()
    sigma = np.exp(log_sigma.numpy())
    lo = np.where(levels == 0, -np.inf, x.numpy() - 1 / 255)
    hi = np.where(levels == 255, np.inf, x.numpy() + 1 / 255)
    expected = np.log(stats.norm.cdf(hi, mean.numpy(), sigma) - stats.norm.cdf(lo, mean.numpy(), sigma))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


def test_discretized_likelihood_sums_to_one_over_all_256_levels() -> None:
    x = torch.arange(256, dtype=torch.float64) / 127.5 - 1.0
    logp = discretized_gaussian_log_likelihood(x, means=torch.full_like(x, 0.3),
                                               log_scales=torch.full_like(x, math.log(0.2)))
    assert logp.exp().sum().item() == pytest.approx(1.0, abs=1e-9)


def test_vlb_term_at_t0_is_the_decoder_nll_in_bits() -> None:
    schedule = make_schedule("cosine", 10)
    x0 = torch.rand(2, 3, 4, 4) * 2 - 1
    t = torch.tensor([0, 0])
    eps, v = torch.randn_like(x0), torch.rand_like(x0) * 2 - 1
    x_t = schedule.add_noise(x0, torch.randn_like(x0), t)
    pred_x0 = schedule.predict_x0(x_t, eps, t, "epsilon")
    mean = schedule.posterior_mean(pred_x0, x_t, t)
    logvar = learned_log_variance(schedule, v, t)
    nll = -discretized_gaussian_log_likelihood(x0, means=mean, log_scales=0.5 * logvar).flatten(1).mean(1)
    torch.testing.assert_close(vlb_terms(schedule, x0, x_t, t, eps, v), nll / math.log(2))


# -- learned variance ------------------------------------------------------------------------------------
def test_learned_variance_stays_between_posterior_variance_and_beta() -> None:
    torch.manual_seed(0)
    T = 50
    schedule = make_schedule("cosine", T)
    net = ADMUNet(8, out_channels=6, base_channels=8, channel_mult=(1,), num_res_blocks=1,
                  attention_resolutions=(), num_head_channels=8)
    with torch.no_grad():  # make the raw variance channels huge so an unbounded v would leave the range
        net.out[-1].weight.normal_(0, 50.0)
    model = LearnedVarianceModel(net)
    x, t = torch.randn(T, 3, 8, 8), torch.arange(T)
    with torch.no_grad():
        v = model(x, t)[:, 3:]
    assert v.abs().max() <= 1.0 and v.abs().max() > 0.99
    var = learned_log_variance(schedule, v, t).exp().double()
    beta = schedule.betas[:, None, None, None]
    post = schedule.posterior_log_variance_clipped.exp()[:, None, None, None]
    lo, hi = torch.minimum(beta, post), torch.maximum(beta, post)
    assert bool(((var >= lo * (1 - 1e-5)) & (var <= hi * (1 + 1e-5))).all())
    assert bool((post[1:] <= beta[1:]).all())  # β̃_t ≤ β_t for t ≥ 1
    # The sampler reads the same channels the same way (on the full grid).
    sampler = DDPMSampler(schedule, variance="learned_range")
    for step in (0, 7, T - 1):
        torch.testing.assert_close(sampler.log_variance(step, x[:1], v[step : step + 1]),
                                   learned_log_variance(schedule, v[step : step + 1], t[step : step + 1]))


def test_sampling_clamps_the_predicted_x0_like_the_official_sampler() -> None:
    # With ε̂ = 0 the prediction x̂_0 = x_t/√ᾱ_t is huge near t = T−1 (cosine ᾱ ≈ 0); clamping keeps it in range.
    def zero_eps(x: torch.Tensor, t: torch.Tensor, **_: object) -> torch.Tensor:
        return torch.zeros(x.shape[0], 6, *x.shape[2:])

    gen = IDDPM.from_profile("smoke", ["a"])
    x = sample(zero_eps, gen.sampler(), (4, 3, 8, 8), generator=torch.Generator().manual_seed(0))
    assert x.abs().max() <= 1.0 + 1e-6
    gen.config["clip_sample"] = False
    x = sample(zero_eps, gen.sampler(), (4, 3, 8, 8), generator=torch.Generator().manual_seed(0))
    assert x.abs().max() > 10.0


# -- the hybrid loss -------------------------------------------------------------------------------------
def _tiny_model(num_classes: int | None = None) -> LearnedVarianceModel:
    return LearnedVarianceModel(ADMUNet(8, out_channels=6, base_channels=16, channel_mult=(1, 2),
                                        num_res_blocks=1, attention_resolutions=(), num_head_channels=16,
                                        num_classes=num_classes))


def test_vlb_term_trains_only_the_variance_channels() -> None:
    torch.manual_seed(0)
    schedule = make_schedule("cosine", 20)
    x0, noise, t = torch.rand(4, 3, 8, 8) * 2 - 1, torch.randn(4, 3, 8, 8), torch.tensor([0, 3, 10, 19])
    out = torch.randn(4, 6, 8, 8, requires_grad=True)
    loss = HybridLoss(schedule)
    _, vlb = loss.per_sample(lambda x, tt: out, x0, None, t, noise)
    vlb.sum().backward()
    assert out.grad is not None
    assert out.grad[:, :3].abs().max() == 0  # stop-gradient on the mean
    assert out.grad[:, 3:].abs().max() > 0


def test_hybrid_loss_falls_on_a_toy_set() -> None:
    torch.manual_seed(0)
    schedule = make_schedule("cosine", 100)
    x0 = torch.rand(8, 3, 8, 8) * 2 - 1
    y = torch.arange(8) % 2
    model = _tiny_model(num_classes=2)
    loss = HybridLoss(schedule, class_conditional=True)
    g = torch.Generator().manual_seed(1)
    t_eval, noise_eval = torch.randint(0, 100, (64,), generator=g), torch.randn(64, 3, 8, 8, generator=g)
    x_eval, y_eval = x0.repeat(8, 1, 1, 1), y.repeat(8)

    def evaluate() -> float:
        with torch.no_grad():
            return hybrid_loss_at(loss, model, x_eval, y_eval, t_eval, noise_eval).item()

    before = evaluate()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(20):
        value, info = loss(model, (x0, y), g)
        opt.zero_grad()
        value.backward()
        opt.step()
    assert {"mse", "vlb"} <= set(info)
    after = evaluate()
    assert after < 0.7 * before, (before, after)


def test_importance_sampler_is_uniform_until_warm_then_proportional_to_rms_loss() -> None:
    sampler = LossAwareTimesteps(4, history=2, uniform_prob=0.0)
    g = torch.Generator().manual_seed(0)
    for step in range(4):
        sampler.update(torch.tensor([step]), torch.tensor([1.0]))
    assert not sampler.warmed_up
    torch.testing.assert_close(sampler.probabilities(), torch.full((4,), 0.25, dtype=torch.float64))
    sampler.update(torch.tensor([0, 1, 2, 3, 3]), torch.tensor([1.0, 1.0, 1.0, 7.0, 3.0]))  # 3 keeps (7, 3)
    assert sampler.warmed_up
    rms = torch.tensor([1.0, 1.0, 1.0, math.sqrt((49 + 9) / 2)], dtype=torch.float64)
    torch.testing.assert_close(sampler.probabilities(), rms / rms.sum())
    t, w = sampler.sample(20000, g, torch.device("cpu"))
    freq = torch.bincount(t, minlength=4).double() / len(t)
    assert (freq - rms / rms.sum()).abs().max() < 0.02
    # weights 1/(T·p_t) make the weighted mean of L_t unbiased for the uniform average
    losses = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert (w * losses[t]).mean().item() == pytest.approx(losses.mean().item(), rel=0.03)


# -- generator: resume, persistence, CLI -----------------------------------------------------------------
def _config(**extra: object) -> dict:
    return {**IDDPM.default_config("smoke"), **TINY, **extra}


_KILLED_RUN = textwrap.dedent(
    """
    import os, signal, torch
    from pathlib import Path
    import augdiff.training.generator_trainer as trainer_module
    torch.set_num_threads({threads})
    save = trainer_module.save_checkpoint
    def save_then_die(path, state):
        save(path, state)
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup: as if the machine went away
    trainer_module.save_checkpoint = save_then_die
    import numpy as np
    from augdiff.data.spec import Split
    from augdiff_iddpm.generator import IDDPM
    images = np.load({images!r})
    split = Split("train", ["a", "b"], images, np.arange(len(images)) % 2, [str(i) for i in range(len(images))])
    IDDPM({config!r}, ["a", "b"]).fit(split, Path({workdir!r}), seed=5)
    """
)


def test_resume_after_sigkill_gives_the_uninterrupted_weights(tmp_path: Path) -> None:
    split, config = _split(), _config()
    np.save(tmp_path / "images.npy", split.images)
    killed = tmp_path / "killed"
    script = _KILLED_RUN.format(threads=torch.get_num_threads(), images=str(tmp_path / "images.npy"),
                                config=config, workdir=str(killed))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert latest_checkpoint(killed / "conditional").name == "step-00000003.pt"

    IDDPM(config, ["a", "b"]).fit(split, killed, seed=5)
    IDDPM(config, ["a", "b"]).fit(split, tmp_path / "fresh", seed=5)
    a = load_checkpoint(latest_checkpoint(killed / "conditional"))
    b = load_checkpoint(latest_checkpoint(tmp_path / "fresh" / "conditional"))
    assert a["step"] == b["step"] == 9
    assert bool((a["model"]["timesteps.counts"] == 10).all())  # importance sampling was active at the end
    for part in ("model", "ema"):
        sa, sb = (a[part], b[part]) if part == "model" else (a[part]["model"], b[part]["model"])
        for key in sa:
            assert torch.equal(sa[key], sb[key]), f"{part}.{key} differs after resume"


def test_per_class_models_save_load_and_sample_identically(tmp_path: Path) -> None:
    gen = IDDPM(_config(per_class=True, steps=2, timestep_sampler="uniform", sample_steps=2), ["a", "b"])
    gen.fit(_split(), tmp_path / "work", seed=0)
    assert sorted(gen.models) == [0, 1] and (tmp_path / "work" / "b" / "checkpoints").is_dir()
    gen.save(tmp_path / "model")
    loaded = IDDPM.load(tmp_path / "model")
    a, b = gen.generate(3, seed=2), loaded.generate(3, seed=2)
    assert a.images.shape == (3, 8, 8, 3)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.probs.argmax(1), [0, 0, 1])


def test_bad_options_name_the_option() -> None:
    from augdiff.errors import AugdiffError

    with pytest.raises(AugdiffError, match="timestep_sampler"):
        IDDPM.from_profile("smoke", ["a"], {"timestep_sampler": "importance"})
    with pytest.raises(AugdiffError, match="sample_steps"):
        IDDPM.from_profile("smoke", ["a"], {"sample_steps": 1000})
    gen = IDDPM.from_profile("smoke", ["a"])
    gen.config["sample_steps"] = 101  # as `augment --steps 101` sets it after loading
    with pytest.raises(AugdiffError, match="--steps 101"):
        gen.sampler()


def test_cli_fit_then_augment_with_steps_writes_pngs(runner, tmp_path: Path) -> None:
    fit = runner.invoke(app, ["fit", "iddpm", "--data", "synth-histo", "--profile", "smoke"])
    assert fit.exit_code == 0, fit.output
    out = tmp_path / "out"
    result = runner.invoke(app, ["augment", "--generator", "iddpm", "--data", "synth-histo", "--profile", "smoke",
                                 "--n", "16", "--steps", "5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    generated = read_generated_set(out)
    assert len(generated) == 16 and len(list((out / "images").glob("*.png"))) == 16
    assert generated.images().shape == (16, 16, 16, 3)
    assert {r["sampler"] for r in generated.records} == {"ddpm-learned-5"}
    assert sorted(generated.probs().argmax(1).tolist()) == [0] * 8 + [1] * 8
