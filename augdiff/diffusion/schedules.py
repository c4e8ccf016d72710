"""Noise schedules: the forward process q(x_t | x_0) and the closed forms every sampler and loss needs.

Conventions (shared by the whole diffusion core):

- Timesteps are 0-indexed: ``t ∈ {0, …, T−1}``; our ``t = 0`` is the DDPM paper's ``t = 1``. The clean image
  has no timestep (ᾱ = 1); samplers call that level ``-1``.
- ``t`` is a LongTensor of shape ``(B,)`` (a Python int is broadcast to the batch).
- Every table is stored in float64 on the CPU and cast to the input's dtype and device when used, so that
  ᾱ near 0 or 1 keeps its precision until the last moment.
- Prediction types: ``"epsilon"`` (the noise ε, DDPM), ``"v"`` (v = √ᾱ ε − √(1−ᾱ) x_0, Salimans & Ho 2022) and
  ``"sample"`` (x_0 directly).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from augdiff.errors import AugdiffError

PredictionType = Literal["epsilon", "v", "sample"]
PREDICTION_TYPES: tuple[str, ...] = ("epsilon", "v", "sample")
MAX_BETA = 0.999  # IDDPM §3.2: clipping β keeps the last steps from being singular


def linear_betas(num_timesteps: int) -> Tensor:
    """DDPM's linear β from 1e-4 to 0.02 at T = 1000.

    For other T the endpoints scale by 1000/T (as in IDDPM's ``get_named_beta_schedule``) so that ᾱ_{T−1}
    stays ≈ 4e-5 whatever T is; at T = 1000 this is exactly DDPM's (and diffusers' ``linear``) schedule.
    """
    scale = 1000.0 / num_timesteps
    betas = torch.linspace(scale * 1e-4, scale * 0.02, num_timesteps, dtype=torch.float64)
    return betas.clamp(max=MAX_BETA)


def cosine_betas(num_timesteps: int, s: float = 0.008) -> Tensor:
    """Nichol & Dhariwal 2021, Eq. 17: ᾱ(t) = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2).

    β_t = 1 − ᾱ(t+1)/ᾱ(t) for 0-indexed t (paper's t+1), clipped to ≤ 0.999.
    """

    def f(step: Tensor) -> Tensor:
        return torch.cos((step / num_timesteps + s) / (1 + s) * math.pi / 2) ** 2

    steps = torch.arange(num_timesteps + 1, dtype=torch.float64)
    alpha_bar = f(steps) / f(torch.zeros((), dtype=torch.float64))
    betas = 1 - alpha_bar[1:] / alpha_bar[:-1]
    return betas.clamp(min=0.0, max=MAX_BETA)


SCHEDULES: dict[str, Callable[[int], Tensor]] = {"linear": linear_betas, "cosine": cosine_betas}


def make_schedule(name: str, T: int = 1000, *, num_train_timesteps: int | None = None) -> NoiseSchedule:
    """The named schedule with ``T`` steps (``num_train_timesteps`` is accepted as a synonym)."""
    if num_train_timesteps is not None:
        T = num_train_timesteps
    num_train_timesteps = T
    if name not in SCHEDULES:
        raise AugdiffError(f"schedule '{name}' is unknown; choose one of {', '.join(SCHEDULES)}")
    if int(num_train_timesteps) < 2:
        raise AugdiffError(f"num_train_timesteps={num_train_timesteps}: a schedule needs at least 2 steps")
    return NoiseSchedule(name, SCHEDULES[name](int(num_train_timesteps)))


def _check_prediction_type(prediction_type: str) -> None:
    if prediction_type not in PREDICTION_TYPES:
        raise AugdiffError(
            f"prediction_type '{prediction_type}' is unknown; choose one of {PREDICTION_TYPES}"
        )


class NoiseSchedule:
    """β_t and everything derived from it. Indexing a table with ``t`` gives a ``(B, 1, …, 1)`` coefficient.

    Attributes are float64 tensors of length T: ``betas``, ``alphas`` (1 − β), ``alphas_cumprod`` (ᾱ_t),
    ``alphas_cumprod_prev`` (ᾱ_{t−1}, with ᾱ_{−1} = 1), ``posterior_variance`` (β̃_t, DDPM Eq. 7),
    ``posterior_log_variance_clipped`` (log β̃_t with β̃_0 replaced by β̃_1, since β̃_0 = 0), ``log_betas``,
    ``sqrt_alphas_cumprod``, ``sqrt_one_minus_alphas_cumprod`` and the two posterior-mean coefficients.
    """

    def __init__(self, name: str, betas: Tensor) -> None:
        betas = torch.as_tensor(betas, dtype=torch.float64).flatten().cpu()
        if betas.numel() < 1 or not bool(((betas > 0) & (betas <= 1)).all()):
            raise ValueError("betas must be a non-empty sequence of values in (0, 1]")
        self.name = name
        self.num_train_timesteps = int(betas.numel())
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])
        self.log_betas = torch.log(betas)
        self.sqrt_alphas_cumprod = self.alphas_cumprod.sqrt()
        self.sqrt_one_minus_alphas_cumprod = (1.0 - self.alphas_cumprod).sqrt()
        # DDPM Eq. 7: q(x_{t−1} | x_t, x_0) = N(coef1 x_0 + coef2 x_t, β̃_t I).
        one_minus = 1.0 - self.alphas_cumprod
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / one_minus
        first = self.posterior_variance[1] if self.num_train_timesteps > 1 else betas[0]
        self.posterior_log_variance_clipped = torch.log(
            torch.cat([first.reshape(1), self.posterior_variance[1:]])
        )
        self.posterior_mean_coef1 = betas * torch.sqrt(self.alphas_cumprod_prev) / one_minus
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * torch.sqrt(self.alphas) / one_minus

    def __repr__(self) -> str:
        return f"NoiseSchedule(name={self.name!r}, T={self.num_train_timesteps})"

    def __len__(self) -> int:
        return self.num_train_timesteps

    @property
    def T(self) -> int:
        return self.num_train_timesteps

    # -- indexing ----------------------------------------------------------------------------------------------
    def coefficient(self, table: Tensor, t: Tensor | int, like: Tensor) -> Tensor:
        """``table[t]`` as ``like``'s dtype and device, shaped ``(B, 1, …)`` to broadcast over ``like``."""
        shape = (-1, *([1] * (like.dim() - 1)))
        if isinstance(t, int):  # one timestep for the whole batch: no index tensor, no gather
            if not 0 <= t < self.num_train_timesteps:
                raise IndexError(f"timestep {t} out of range [0, {self.num_train_timesteps - 1}]")
            return torch.full((like.shape[0],), float(table[t]), dtype=like.dtype, device=like.device).view(
                shape
            )
        index = t.detach().to("cpu", torch.long)
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= self.num_train_timesteps):
            raise IndexError(f"timestep out of range [0, {self.num_train_timesteps - 1}]: {index.tolist()}")
        return table[index].to(device=like.device, dtype=like.dtype).view(shape)

    def _sqrt_ab(self, t: Tensor | int, like: Tensor) -> tuple[Tensor, Tensor]:
        return self.coefficient(self.sqrt_alphas_cumprod, t, like), self.coefficient(
            self.sqrt_one_minus_alphas_cumprod, t, like
        )

    # -- forward process -------------------------------------------------------------------------------------
    def add_noise(self, x0: Tensor, noise: Tensor, t: Tensor | int) -> Tensor:
        """x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (DDPM Eq. 4)."""
        a, s = self._sqrt_ab(t, x0)
        return a * x0 + s * noise

    def velocity(self, x0: Tensor, noise: Tensor, t: Tensor | int) -> Tensor:
        """v = √ᾱ_t ε − √(1−ᾱ_t) x_0 (Salimans & Ho 2022, §4)."""
        a, s = self._sqrt_ab(t, x0)
        return a * noise - s * x0

    def training_target(self, x0: Tensor, noise: Tensor, t: Tensor | int, prediction_type: str) -> Tensor:
        """What a network with this ``prediction_type`` is trained to output."""
        _check_prediction_type(prediction_type)
        if prediction_type == "epsilon":
            return noise
        if prediction_type == "v":
            return self.velocity(x0, noise, t)
        return x0

    # -- converting model outputs ----------------------------------------------------------------------------
    def predict_x0(self, x_t: Tensor, model_output: Tensor, t: Tensor | int, prediction_type: str) -> Tensor:
        """x̂_0 from the model output (inverting ``add_noise`` for ε; x_0 = √ᾱ x_t − √(1−ᾱ) v for v)."""
        _check_prediction_type(prediction_type)
        a, s = self._sqrt_ab(t, x_t)
        if prediction_type == "epsilon":
            return (x_t - s * model_output) / a
        if prediction_type == "v":
            return a * x_t - s * model_output
        return model_output

    def predict_eps(self, x_t: Tensor, model_output: Tensor, t: Tensor | int, prediction_type: str) -> Tensor:
        """ε̂ from the model output (ε = √ᾱ v + √(1−ᾱ) x_t for v)."""
        _check_prediction_type(prediction_type)
        a, s = self._sqrt_ab(t, x_t)
        if prediction_type == "epsilon":
            return model_output
        if prediction_type == "v":
            return a * model_output + s * x_t
        return (x_t - a * model_output) / s

    def eps_from_x0(self, x_t: Tensor, x0: Tensor, t: Tensor | int) -> Tensor:
        a, s = self._sqrt_ab(t, x_t)
        return (x_t - a * x0) / s

    # -- the reverse-process posterior -----------------------------------------------------------------------
    def posterior_mean(self, x0: Tensor, x_t: Tensor, t: Tensor | int) -> Tensor:
        """Mean of q(x_{t−1} | x_t, x_0) (DDPM Eq. 7)."""
        c1 = self.coefficient(self.posterior_mean_coef1, t, x_t)
        c2 = self.coefficient(self.posterior_mean_coef2, t, x_t)
        return c1 * x0 + c2 * x_t

    def snr(self, t: Tensor | int, like: Tensor) -> Tensor:
        """Signal-to-noise ratio ᾱ_t / (1 − ᾱ_t)."""
        return self.coefficient(self.alphas_cumprod / (1.0 - self.alphas_cumprod), t, like)
