"""Samplers and sampling loops against a Gaussian toy whose exact ε-predictor and ODE solution are known.

Data x_0 ~ N(μ, s² I). Then x_t ~ N(√ᾱ μ, (ᾱ s² + 1 − ᾱ) I), the exact denoiser is
E[ε | x_t] = √(1−ᾱ) (x_t − √ᾱ μ) / (ᾱ s² + 1 − ᾱ), and the probability-flow ODE (which DDIM with η = 0
discretises) keeps z = (x_t − √ᾱ μ) / √(ᾱ s² + 1 − ᾱ) constant, so x_t at any level maps to x_0 = μ + s z.
"""

from __future__ import annotations

import math

import pytest
import torch

from augdiff.diffusion import sampling
from augdiff.diffusion.samplers import DDIMSampler, DDPMSampler, respaced_timesteps
from augdiff.diffusion.schedules import NoiseSchedule, make_schedule

MU, S = 0.3, 0.5


@pytest.fixture(autouse=True)
def _single_thread():
    # Thousands of tiny tensor ops: a second intra-op thread only adds contention on a busy 2-core machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def oracle(schedule: NoiseSchedule):
    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = schedule.coefficient(schedule.alphas_cumprod, t, x)
        return (1 - ab).sqrt() * (x - ab.sqrt() * MU) / (ab * S * S + 1 - ab)

    return model


def level(schedule: NoiseSchedule, t: int) -> tuple[float, float]:
    """Mean and std of x_t under the toy data."""
    ab = float(schedule.alphas_cumprod[t])
    return math.sqrt(ab) * MU, math.sqrt(ab * S * S + 1 - ab)


def analytic_x0(schedule: NoiseSchedule, x_t: torch.Tensor, t: int) -> torch.Tensor:
    mean, std = level(schedule, t)
    return MU + S * (x_t - mean) / std


def run_ddim(sampler: DDIMSampler, model, x: torch.Tensor) -> torch.Tensor:
    for t in sampler.timesteps.tolist():
        x = sampler.step(model(x, torch.full((x.shape[0],), t)), t, x)
    return x


def data(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return MU + S * torch.randn(n, 1, 4, 4, generator=g, dtype=torch.float64)


# -- the grid -----------------------------------------------------------------------------------------------
def test_respaced_grid_spans_both_ends() -> None:
    assert respaced_timesteps(1000, 10) == [0, 111, 222, 333, 444, 555, 666, 777, 888, 999]
    assert respaced_timesteps(10, 10) == list(range(10))
    for k in (2, 3, 7, 50, 333, 999):
        grid = respaced_timesteps(1000, k)
        assert len(set(grid)) == k and grid[0] == 0 and grid[-1] == 999 and grid == sorted(grid)
    with pytest.raises(ValueError):
        respaced_timesteps(10, 11)


def test_sampler_grid_navigation() -> None:
    d = DDIMSampler(make_schedule("linear", 100))
    assert d.timesteps.tolist() == list(range(99, -1, -1))
    d.set_timesteps(5)
    assert d.timesteps.dtype == torch.long and d.timesteps.tolist() == [99, 74, 50, 25, 0]
    assert d.prev_timestep(50) == 25 and d.prev_timestep(0) == -1
    assert d.next_timestep(-1) == 0 and d.next_timestep(74) == 99
    assert d.alpha_bar(-1) == 1.0
    with pytest.raises(ValueError, match="not on this sampler's grid"):
        d.step(torch.zeros(1, 1, 2, 2), 51, torch.zeros(1, 1, 2, 2))
    with pytest.raises(ValueError, match="top of the grid"):
        d.next_timestep(99)
    d.set_timesteps(timesteps=[90, 10, 40])
    assert d.timesteps.tolist() == [90, 40, 10]


def test_respaced_ddpm_betas_follow_iddpm() -> None:
    s = make_schedule("cosine", 1000)
    p = DDPMSampler(s, variance="posterior")
    p.set_timesteps(10)
    grid = sorted(p.timesteps.tolist())
    ab = s.alphas_cumprod
    expected = [1 - ab[grid[0]]] + [1 - ab[grid[i]] / ab[grid[i - 1]] for i in range(1, 10)]
    torch.testing.assert_close(p.grid_schedule.betas, torch.stack(expected))
    # the shortened process keeps ᾱ at its grid points
    torch.testing.assert_close(p.grid_schedule.alphas_cumprod, ab[grid])
    p.set_timesteps(None)
    assert p.grid_schedule is s


# -- DDIM ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_ddim_with_exact_oracle_converges_to_the_analytic_ode_solution(name: str) -> None:
    s = make_schedule(name)
    model = oracle(s)
    g = torch.Generator().manual_seed(0)
    x_T = torch.randn(256, 1, 4, 4, generator=g, dtype=torch.float64)
    exact = analytic_x0(s, x_T, s.T - 1)
    errors = []
    for k in (50, 200):
        d = DDIMSampler(s)
        d.set_timesteps(k)
        errors.append(float((run_ddim(d, model, x_T) - exact).abs().max()))
    assert errors[1] < 0.035
    # DDIM is a first-order solver: 4x the steps, about 1/4 of the error.
    assert 3.0 < errors[0] / errors[1] < 5.0


def test_ddim_last_step_lands_on_the_predicted_x0() -> None:
    s = make_schedule("linear", 100)
    d = DDIMSampler(s, eta=1.0)
    d.set_timesteps(4)
    x, out = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(d.step(out, 0, x), s.predict_x0(x, out, 0, "epsilon"))


def test_ddim_eta_one_has_the_posterior_variance() -> None:
    d = DDIMSampler(make_schedule("linear", 1000), eta=1.0)
    d.set_timesteps(20)
    for t in d.timesteps.tolist()[:-1]:
        i = d.grid_index(t)
        assert d.sigma(t) ** 2 == pytest.approx(float(d.grid_schedule.posterior_variance[i]), rel=1e-9)


def test_ddim_eta_noise_comes_from_the_generator() -> None:
    d = DDIMSampler(make_schedule("linear", 100), eta=0.5)
    d.set_timesteps(10)
    x, out = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    a = d.step(out, 55, x, torch.Generator().manual_seed(3))
    b = d.step(out, 55, x, torch.Generator().manual_seed(3))
    c = d.step(out, 55, x, torch.Generator().manual_seed(4))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_ddim_inversion_follows_the_analytic_ode_trajectory(name: str) -> None:
    # The encoded latent at grid point t is the ODE image of x_0 at level t, to first order in the step.
    s = make_schedule(name)
    model = oracle(s)
    x0 = data(64, 1)
    errors = []
    for k in (50, 200):
        d = DDIMSampler(s)
        d.set_timesteps(k)
        trajectory = sampling.ddim_encode(model, d, x0)
        assert [t for t, _ in trajectory] == sorted(d.timesteps.tolist())
        worst = 0.0
        for t, x_t in trajectory[: 3 * k // 4]:  # the last cosine steps are singular (β' → 1)
            mean, std = level(s, t)
            worst = max(worst, float((x_t.double() - (mean + std * (x0 - MU) / S)).abs().max()))
        errors.append(worst)
    assert errors[1] < 0.05
    assert 2.5 < errors[0] / errors[1] < 5.5


def test_ddim_inversion_is_the_exact_inverse_of_the_step_at_the_same_t() -> None:
    # For a model whose ε̂ depends on t only, invert_step(·, t, ·) undoes step(·, t, ·) exactly, so encoding
    # to any depth and decoding from the returned (t, x_t) gives the input back to rounding. Decoding the same
    # latent one grid point off (the reference ADD code's mistake) does not.
    s = make_schedule("cosine", 1000)
    d = DDIMSampler(s)
    d.set_timesteps(25)
    pattern = torch.randn(1, 3, 4, 4, generator=torch.Generator().manual_seed(7), dtype=torch.float64)

    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.sin(pattern + 0.01 * t.double().view(-1, 1, 1, 1)).expand_as(x).to(x.dtype)

    x0 = torch.rand(4, 3, 4, 4, generator=torch.Generator().manual_seed(8), dtype=torch.float64) * 2 - 1
    trajectory = sampling.ddim_encode(model, d, x0.float())
    grid = sorted(d.timesteps.tolist())
    for depth in (0, 5, 12, 20):
        t, x_t = trajectory[depth]
        assert t == grid[depth]
        # in float64, step by step
        x = x0
        for u in grid[: depth + 1]:
            x = d.invert_step(model(x, torch.full((4,), u)), u, x)
        for u in reversed(grid[: depth + 1]):
            x = d.step(model(x, torch.full((4,), u)), u, x)
        torch.testing.assert_close(x, x0, atol=1e-9, rtol=0)
        # through the sampling loops, in float32
        torch.testing.assert_close(sampling.ddim_decode(model, d, x_t, t).double(), x0, atol=2e-4, rtol=0)
        if depth < 20:
            off = sampling.ddim_decode(model, d, x_t, grid[depth + 1]).double()
            assert float((off - x0).abs().max()) > 0.02


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_ddim_encode_then_decode_round_trips_with_the_oracle(name: str) -> None:
    s = make_schedule(name)
    model = oracle(s)
    d = DDIMSampler(s)
    d.set_timesteps(100)
    x0 = data(32, 2)
    for depth in (24, 49, 74):
        trajectory = sampling.ddim_encode(model, d, x0, until_index=depth)
        assert len(trajectory) == depth + 1
        t, x_t = trajectory[-1]
        recon = sampling.ddim_decode(model, d, x_t, t)
        assert float((recon - x0).abs().mean()) < 0.02
        assert float((recon - x0).abs().max()) < 0.08
        # the latent itself is far from the image: the round trip is not trivially exact
        assert float((x_t - x0).abs().mean()) > 0.05


def test_ddim_encode_batches_and_until_index_agree_with_one_pass() -> None:
    s = make_schedule("cosine", 100)
    d = DDIMSampler(s)
    d.set_timesteps(10)
    x0 = data(6, 3).float()
    full = sampling.ddim_encode(oracle(s), d, x0)
    chunked = sampling.ddim_encode(oracle(s), d, x0, batch_size=4, until_index=4)
    for (t_a, a), (t_b, b) in zip(full[:5], chunked):
        assert t_a == t_b
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError):
        sampling.ddim_decode(oracle(s), d, x0, 50)  # 50 is not on the 10-step grid


# -- DDPM ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("variance", "steps"), [("beta", None), ("posterior", None), ("beta", 100)])
def test_ddpm_ancestral_with_oracle_draws_the_data_distribution(variance: str, steps: int | None) -> None:
    s = make_schedule("linear")
    p = DDPMSampler(s, variance=variance)
    p.set_timesteps(steps)
    x = sampling.sample(oracle(s), p, (1000, 1, 4, 4), generator=torch.Generator().manual_seed(5))
    assert x.dtype == torch.float32
    assert float(x.mean()) == pytest.approx(MU, abs=0.015)
    assert float(x.std()) == pytest.approx(S, rel=0.03)


def test_learned_range_interpolates_between_beta_and_posterior() -> None:
    s = make_schedule("cosine", 1000)
    p = DDPMSampler(s, variance="learned_range")
    p.set_timesteps(50)
    t = p.timesteps.tolist()[10]
    like = torch.zeros(2, 3, 4, 4)
    i = p.grid_index(t)
    log_beta = math.log(float(p.grid_schedule.betas[i]))
    log_post = float(p.grid_schedule.posterior_log_variance_clipped[i])
    assert float(p.log_variance(t, like, torch.ones_like(like)).max()) == pytest.approx(log_beta, rel=1e-6)
    assert float(p.log_variance(t, like, -torch.ones_like(like)).max()) == pytest.approx(log_post, rel=1e-6)
    mid = p.log_variance(t, like, torch.zeros_like(like))
    assert float(mid.max()) == pytest.approx((log_beta + log_post) / 2, rel=1e-6)
    # the step takes 2C channels, and refuses C
    x = torch.randn(2, 3, 4, 4)
    assert p.step(torch.zeros(2, 6, 4, 4), t, x, torch.Generator().manual_seed(0)).shape == x.shape
    with pytest.raises(ValueError, match="expected 6"):
        p.step(torch.zeros(2, 3, 4, 4), t, x)


def test_ddpm_step_is_algorithm_2_and_last_step_is_noise_free() -> None:
    s = make_schedule("linear", 100)
    p = DDPMSampler(s, variance="beta")
    x, eps = torch.randn(3, 2, 4, 4, dtype=torch.float64), torch.randn(3, 2, 4, 4, dtype=torch.float64)
    t = 40
    b, a, ab = (float(v[t]) for v in (s.betas, s.alphas, s.alphas_cumprod))
    # x_{t−1} = 1/√α_t (x_t − β_t/√(1−ᾱ_t) ε̂) + σ_t z with σ_t² = β_t, z from the generator
    z = torch.randn(x.shape, generator=torch.Generator().manual_seed(3)).double()
    expected = (x - b / math.sqrt(1 - ab) * eps) / math.sqrt(a) + math.sqrt(b) * z
    torch.testing.assert_close(p.step(eps, t, x, torch.Generator().manual_seed(3)), expected)
    p_post = DDPMSampler(s, variance="posterior")
    z_scale = math.sqrt(float(s.posterior_variance[t]))
    expected = (x - b / math.sqrt(1 - ab) * eps) / math.sqrt(a) + z_scale * z
    torch.testing.assert_close(p_post.step(eps, t, x, torch.Generator().manual_seed(3)), expected)
    first = p.step(eps, 0, x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(first, p.step(eps, 0, x, torch.Generator().manual_seed(1)))
    torch.testing.assert_close(first, s.predict_x0(x, eps, 0, "epsilon"))


def test_sample_is_reproducible_and_passes_model_kwargs_per_chunk() -> None:
    s = make_schedule("linear", 20)
    p = DDPMSampler(s)
    seen: list[torch.Tensor] = []

    def model(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        assert t.dtype == torch.long and t.shape == (x.shape[0],)
        seen.append(y.clone())
        return torch.zeros_like(x) + y.view(-1, 1, 1, 1) * 0.01

    y = torch.arange(5)
    a = sampling.sample(
        model, p, (5, 3, 2, 2), generator=torch.Generator().manual_seed(0), model_kwargs={"y": y}
    )
    b = sampling.sample(
        model, p, (5, 3, 2, 2), generator=torch.Generator().manual_seed(0), model_kwargs={"y": y}
    )
    torch.testing.assert_close(a, b)
    seen.clear()
    sampling.sample(
        model,
        p,
        (5, 3, 2, 2),
        generator=torch.Generator().manual_seed(0),
        model_kwargs={"y": y},
        batch_size=2,
    )
    assert {tuple(v.tolist()) for v in seen} == {(0, 1), (2, 3), (4,)}


def test_sampling_puts_the_model_in_eval_mode_and_restores_it() -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), torch.nn.BatchNorm2d(3))
    modes: list[bool] = []

    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        modes.append(net.training)
        return net(x)

    wrapper = torch.nn.Module()
    wrapper.net = net
    wrapper.forward = model  # type: ignore[method-assign]
    d = DDIMSampler(make_schedule("linear", 10))
    d.set_timesteps(2)
    net.train()
    out = sampling.sample(wrapper, d, (2, 3, 4, 4), generator=torch.Generator().manual_seed(0), autocast=True)
    assert modes == [False, False] and net.training
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
