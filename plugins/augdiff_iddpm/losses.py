"""IDDPM's training objective (Nichol & Dhariwal 2021): learned variance, L_vlb terms, the hybrid loss.

Conventions follow the diffusion core: 0-indexed t ∈ {0..T−1} (our t = 0 is the paper's t = 1, whose L_vlb term
is the decoder NLL L_0), images in [-1, 1] with 256 levels, model outputs [ε̂ | v] with v ∈ [-1, 1].
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from augdiff.diffusion.schedules import NoiseSchedule

LOG2 = math.log(2.0)


# -- closed forms --------------------------------------------------------------------------------------------
def normal_kl(mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor) -> Tensor:
    """KL(N(mean1, e^logvar1) ‖ N(mean2, e^logvar2)), elementwise, in nats."""
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2)
                  + (mean1 - mean2).pow(2) * torch.exp(-logvar2))


def standard_normal_cdf(x: Tensor) -> Tensor:
    # The exact Φ (IDDPM uses a tanh approximation; erf costs the same and is exact).
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def discretized_gaussian_log_likelihood(x: Tensor, *, means: Tensor, log_scales: Tensor) -> Tensor:
    """log P(x) per element, for x in [-1, 1] quantised to 256 levels (DDPM §3.3, Eq. 13).

    Each level owns the bin [x − 1/255, x + 1/255]; the two end bins extend to ∓∞ so the 256 probabilities sum
    to one. ``log_scales`` is log σ (half the log-variance).
    """
    centered = x - means
    inv_std = torch.exp(-log_scales)
    cdf_plus = standard_normal_cdf(inv_std * (centered + 1.0 / 255.0))
    cdf_min = standard_normal_cdf(inv_std * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_delta))


def learned_log_variance(schedule: NoiseSchedule, v: Tensor, t: Tensor) -> Tensor:
    """IDDPM Eq. 15: log Σ = f·log β_t + (1 − f)·log β̃_t with f = (v + 1)/2, so v = ±1 gives β_t / β̃_t."""
    frac = (v + 1.0) / 2.0
    log_beta = schedule.coefficient(schedule.log_betas, t, v)
    log_post = schedule.coefficient(schedule.posterior_log_variance_clipped, t, v)
    return frac * log_beta + (1.0 - frac) * log_post


def _mean_flat(x: Tensor) -> Tensor:
    return x.flatten(1).mean(dim=1)


def vlb_terms(
    schedule: NoiseSchedule, x0: Tensor, x_t: Tensor, t: Tensor, eps: Tensor, v: Tensor
) -> Tensor:
    """L_t per sample in bits/dim: KL(q(x_{t−1}|x_t, x_0) ‖ p(x_{t−1}|x_t)) for t > 0, −log p(x_0|x_1) at t = 0.

    The caller decides what receives gradients: the hybrid loss passes ``eps.detach()`` (§3.1: L_vlb only
    trains the variance).
    """
    pred_x0 = schedule.predict_x0(x_t, eps, t, "epsilon")
    model_mean = schedule.posterior_mean(pred_x0, x_t, t)
    model_logvar = learned_log_variance(schedule, v, t)
    true_mean = schedule.posterior_mean(x0, x_t, t)
    true_logvar = schedule.coefficient(schedule.posterior_log_variance_clipped, t, x_t)
    kl = _mean_flat(normal_kl(true_mean, true_logvar, model_mean, model_logvar)) / LOG2
    nll = -_mean_flat(discretized_gaussian_log_likelihood(x0, means=model_mean, log_scales=0.5 * model_logvar))
    return torch.where(t == 0, nll / LOG2, kl)


# -- importance sampling of t (§3.3) -------------------------------------------------------------------------
class LossAwareTimesteps(nn.Module):
    """p_t ∝ sqrt(E[L_t²]) over the last ``history`` values of each L_t; uniform until every t has them all.

    Kept as buffers of an ``nn.Module`` so the history travels inside the model's checkpoint and a resumed run
    draws the same timesteps as an uninterrupted one.
    """

    def __init__(self, num_timesteps: int, history: int = 10, uniform_prob: float = 0.001) -> None:
        super().__init__()
        self.uniform_prob = uniform_prob
        self.register_buffer("losses", torch.zeros(num_timesteps, history, dtype=torch.float64))
        self.register_buffer("counts", torch.zeros(num_timesteps, dtype=torch.long))

    @property
    def warmed_up(self) -> bool:
        return bool((self.counts == self.losses.shape[1]).all())

    def probabilities(self) -> Tensor:
        T = self.losses.shape[0]
        if not self.warmed_up:
            return torch.full((T,), 1.0 / T, dtype=torch.float64, device=self.losses.device)
        p = self.losses.pow(2).mean(dim=1).sqrt()
        p = p / p.sum()
        return p * (1.0 - self.uniform_prob) + self.uniform_prob / T

    def sample(self, batch: int, generator: torch.Generator, device: torch.device) -> tuple[Tensor, Tensor]:
        """t (B,) and importance weights 1/(T·p_t), so that E[w·L_t] is the uniform average."""
        p = self.probabilities().to(generator.device)
        t = torch.multinomial(p, batch, replacement=True, generator=generator)
        weights = 1.0 / (len(p) * p[t])
        return t.to(device), weights.to(device=device, dtype=torch.float32)

    @torch.no_grad()
    def update(self, t: Tensor, losses: Tensor) -> None:
        K = self.losses.shape[1]
        for step, loss in zip(t.tolist(), losses.detach().double().tolist()):
            n = int(self.counts[step])
            if n == K:  # full: drop the oldest
                self.losses[step, :-1] = self.losses[step, 1:].clone()
                self.losses[step, -1] = loss
            else:
                self.losses[step, n] = loss
                self.counts[step] = n + 1


# -- the model wrapper and the loss the Trainer calls --------------------------------------------------------
class LearnedVarianceModel(nn.Module):
    """Wraps a network with 2C output channels: returns [ε̂ | v] with v squashed into [-1, 1] by tanh.

    Eq. 15 presumes v ∈ [-1, 1]; the official code leaves v unbounded, which lets the variance extrapolate past
    [β̃_t, β_t]. The tanh keeps it inside (v = 0 at initialisation, as there). ``timesteps`` holds the
    importance sampler's state when one is used.
    """

    def __init__(self, net: nn.Module, timesteps: LossAwareTimesteps | None = None) -> None:
        super().__init__()
        self.net = net
        self.timesteps = timesteps

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        out = self.net(x, t, y=y) if y is not None else self.net(x, t)
        eps, v = out.chunk(2, dim=1)
        return torch.cat([eps, torch.tanh(v)], dim=1)


class HybridLoss:
    """L_hybrid = L_simple + λ·L_vlb (§3.1), a ``loss_fn(model, batch, generator)`` for the shared Trainer.

    L_vlb = Σ_t L_t is estimated from one uniformly drawn t as T·L_t (with importance weights otherwise), so
    λ = 0.001 at T = 1000 adds L_t itself, exactly as the official ``RESCALED_MSE`` loss does.
    """

    def __init__(
        self,
        schedule: NoiseSchedule,
        *,
        lambda_vlb: float = 0.001,
        class_conditional: bool = False,
        timesteps: LossAwareTimesteps | None = None,
    ) -> None:
        self.schedule, self.lambda_vlb = schedule, float(lambda_vlb)
        self.class_conditional, self.timesteps = class_conditional, timesteps

    def per_sample(
        self, model: Any, x0: Tensor, y: Tensor | None, t: Tensor, noise: Tensor
    ) -> tuple[Tensor, Tensor]:
        """(L_simple, L_t) per sample at the given t and ε."""
        x_t = self.schedule.add_noise(x0, noise, t)
        out = (model(x_t, t, y=y) if y is not None else model(x_t, t)).float()
        eps, v = out.chunk(2, dim=1)
        mse = _mean_flat((noise - eps).pow(2))
        vlb = vlb_terms(self.schedule, x0, x_t, t, eps.detach(), v)  # stop-gradient on the mean (§3.1)
        return mse, vlb

    def __call__(self, model: Any, batch: Any, generator: torch.Generator) -> tuple[Tensor, dict[str, float]]:
        x0, labels = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
        x0 = x0.float()
        y = labels if self.class_conditional else None
        T = self.schedule.num_train_timesteps
        if self.timesteps is None:
            t = torch.randint(0, T, (len(x0),), generator=generator, device=generator.device).to(x0.device)
            weights = torch.ones(len(x0), device=x0.device)
        else:
            t, weights = self.timesteps.sample(len(x0), generator, x0.device)
        noise = torch.randn(x0.shape, generator=generator, device=generator.device).to(x0)
        mse, vlb = self.per_sample(model, x0, y, t, noise)
        if self.timesteps is not None:
            self.timesteps.update(t, vlb)
        loss = (weights * (mse + self.lambda_vlb * T * vlb)).mean()
        return loss, {"mse": mse.mean().item(), "vlb": vlb.mean().item()}


def hybrid_loss_at(
    loss: HybridLoss, model: Any, x0: Tensor, y: Tensor | None, t: Tensor, noise: Tensor
) -> Tensor:
    """The unweighted hybrid loss at fixed (t, ε): for evaluation and tests."""
    mse, vlb = loss.per_sample(model, x0, y, t, noise)
    return (mse + loss.lambda_vlb * loss.schedule.num_train_timesteps * vlb).mean()

