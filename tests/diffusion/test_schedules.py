"""Noise schedules: closed forms of ᾱ_t, diffusers' tables, and the ε / v / x_0 conversions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from augdiff.diffusion.schedules import SCHEDULES, make_schedule
from augdiff.errors import AugdiffError


def test_linear_alpha_bar_is_the_product_of_ddpm_alphas() -> None:
    s = make_schedule("linear", 1000)
    betas = np.linspace(1e-4, 0.02, 1000)
    assert s.num_train_timesteps == s.T == 1000
    assert s.betas.dtype == torch.float64
    np.testing.assert_allclose(s.betas.numpy(), betas, rtol=1e-12)
    np.testing.assert_allclose(s.alphas_cumprod.numpy(), np.cumprod(1 - betas), rtol=1e-10)
    # DDPM's ᾱ_T is about 4e-5: the forward process ends close to pure noise.
    assert 3e-5 < float(s.alphas_cumprod[-1]) < 5e-5


def test_linear_schedule_rescales_for_short_processes() -> None:
    # IDDPM's rule: β endpoints scale by 1000/T, so a 100-step process still ends near pure noise.
    s = make_schedule("linear", 100)
    np.testing.assert_allclose(s.betas[[0, -1]].numpy(), [1e-3, 0.2], rtol=1e-12)
    assert float(s.alphas_cumprod[-1]) < 1e-4


def test_cosine_alpha_bar_matches_nichol_dhariwal_closed_form() -> None:
    T, eps = 1000, 0.008
    s = make_schedule("cosine", T)

    def f(t: float) -> float:
        return math.cos((t / T + eps) / (1 + eps) * math.pi / 2) ** 2

    # 0-indexed t is the paper's t + 1; only the very last β reaches the 0.999 cap.
    expected = np.array([f(t + 1) / f(0) for t in range(T)])
    np.testing.assert_allclose(s.alphas_cumprod[:-1].numpy(), expected[:-1], rtol=1e-9)
    assert float(s.betas.max()) == pytest.approx(0.999)
    assert int((s.betas >= 0.999).sum()) == 1
    np.testing.assert_allclose(
        s.betas[1:].numpy(), (1 - s.alphas_cumprod[1:] / s.alphas_cumprod[:-1]).numpy()
    )


@pytest.mark.parametrize(("name", "diffusers_name"), [("linear", "linear"), ("cosine", "squaredcos_cap_v2")])
def test_betas_match_diffusers(name: str, diffusers_name: str) -> None:
    diffusers = pytest.importorskip("diffusers")
    ref = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule=diffusers_name)
    ours = make_schedule(name, 1000)
    np.testing.assert_allclose(ours.betas.numpy(), ref.betas.double().numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours.alphas_cumprod.numpy(), ref.alphas_cumprod.double().numpy(), rtol=1e-4)


def test_posterior_variance_and_mean_follow_ddpm_eq7() -> None:
    s = make_schedule("linear", 50)
    ab, ab_prev, b = s.alphas_cumprod, s.alphas_cumprod_prev, s.betas
    torch.testing.assert_close(s.posterior_variance, b * (1 - ab_prev) / (1 - ab))
    assert float(s.posterior_variance[0]) == 0.0
    # The clipped log variance replaces the 0 at t = 0 by β̃_1 (IDDPM) and is finite everywhere.
    assert float(s.posterior_log_variance_clipped[0]) == pytest.approx(
        math.log(float(s.posterior_variance[1]))
    )
    assert torch.isfinite(s.posterior_log_variance_clipped).all()
    # With the true x_0, Algorithm 2's mean 1/√α (x_t − β/√(1−ᾱ) ε) is the posterior mean.
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(4, 2, 3, 3, generator=g), torch.randn(4, 2, 3, 3, generator=g)
    t = torch.tensor([1, 10, 30, 49])
    x_t = s.add_noise(x0, eps, t)
    alg2 = (x_t - s.coefficient(b / (1 - ab).sqrt(), t, x_t) * eps) / s.coefficient(s.alphas.sqrt(), t, x_t)
    torch.testing.assert_close(s.posterior_mean(x0, x_t, t), alg2, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v", "sample"])
def test_prediction_types_invert_the_forward_process(prediction_type: str) -> None:
    s = make_schedule("cosine", 100)
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(5, 3, 4, 4, generator=g), torch.randn(5, 3, 4, 4, generator=g)
    t = torch.tensor([0, 10, 50, 90, 99])
    x_t = s.add_noise(x0, eps, t)
    target = s.training_target(x0, eps, t, prediction_type)
    torch.testing.assert_close(s.predict_x0(x_t, target, t, prediction_type), x0, atol=2e-3, rtol=1e-3)
    # ε from x_0 is ill-conditioned where ᾱ ≈ 1, so compare ε away from t = 0 for the x_0 parameterisation.
    keep = slice(1, None) if prediction_type == "sample" else slice(None)
    torch.testing.assert_close(
        s.predict_eps(x_t, target, t, prediction_type)[keep], eps[keep], atol=2e-3, rtol=1e-3
    )


def test_velocity_is_the_rotation_of_noise_and_signal() -> None:
    s = make_schedule("linear", 1000)
    x0, eps = torch.ones(1, 1, 1, 1), torch.zeros(1, 1, 1, 1)
    t = torch.tensor([500])
    ab = float(s.alphas_cumprod[500])
    assert s.velocity(x0, eps, t).item() == pytest.approx(-math.sqrt(1 - ab), rel=1e-6)
    assert s.add_noise(x0, eps, t).item() == pytest.approx(math.sqrt(ab), rel=1e-6)


def test_coefficients_take_the_input_dtype_and_broadcast() -> None:
    s = make_schedule("linear", 10)
    x = torch.zeros(3, 2, 5, 5, dtype=torch.bfloat16)
    c = s.coefficient(s.alphas_cumprod, torch.tensor([0, 4, 9]), x)
    assert c.shape == (3, 1, 1, 1) and c.dtype == torch.bfloat16
    assert s.coefficient(s.alphas_cumprod, 9, x).shape == (3, 1, 1, 1)
    with pytest.raises(IndexError):
        s.coefficient(s.alphas_cumprod, torch.tensor([10]), x)


def test_registry_and_errors() -> None:
    assert set(SCHEDULES) >= {"linear", "cosine"}
    assert make_schedule("cosine", T=20).num_train_timesteps == 20
    with pytest.raises(AugdiffError, match="schedule 'sigmoid' is unknown"):
        make_schedule("sigmoid")
    with pytest.raises(AugdiffError, match="prediction_type"):
        make_schedule("linear", 10).predict_x0(torch.zeros(1, 1), torch.zeros(1, 1), 0, "score")
