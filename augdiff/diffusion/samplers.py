"""Reverse-process samplers: DDPM ancestral sampling and DDIM (with deterministic inversion), on a respaced grid.

A sampler owns a *grid*: the ascending training timesteps τ_0 < τ_1 < … < τ_{K−1} it visits (all T by default).
``timesteps`` is the grid in descending order, the order a sampling loop visits it. ``step(out, t, x_t)`` moves a
sample from grid point ``t`` to the grid point below it, ``prev_timestep(t)``; below τ_0 is the clean image
(level ``-1``, ᾱ = 1), so the last step of every loop returns x_0 itself.

Respacing follows IDDPM (Nichol & Dhariwal 2021, §4 and Appendix B): the grid keeps the original ᾱ at its points
and the β of the shortened process is recomputed as β'_i = 1 − ᾱ_{τ_i} / ᾱ_{τ_{i−1}} (ᾱ_{τ_{−1}} = 1); the
posterior variance and the learned-variance range then follow from β'.

Grid spacing: ``round(linspace(0, T−1, K))``, which contains both ends: sampling starts from the noisiest
trained level T−1 (like diffusers' "trailing") and the final step starts at t = 0 and lands on ᾱ = 1 (like
"leading"), so no trained level at either end is skipped. An explicit grid can be passed instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from augdiff.diffusion.schedules import NoiseSchedule, _check_prediction_type

CLEAN = -1  # the level below the first grid point: the clean image, ᾱ = 1
VARIANCES = ("beta", "posterior", "learned_range")


def respaced_timesteps(num_train_timesteps: int, num_steps: int) -> list[int]:
    """``num_steps`` evenly spaced timesteps in [0, T−1], both ends included, ascending and unique."""
    if not 1 <= num_steps <= num_train_timesteps:
        raise ValueError(f"num_steps must be in [1, {num_train_timesteps}], got {num_steps}")
    if num_steps == 1:
        return [num_train_timesteps - 1]
    stride = (num_train_timesteps - 1) / (num_steps - 1)  # ≥ 1, so rounding never merges two points
    return [round(i * stride) for i in range(num_steps)]


def randn_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise shaped like ``x``, drawn on the generator's device then moved to ``x``'s."""
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=device, dtype=torch.float32).to(x.device, x.dtype)


class _GridSampler:
    """What DDPM and DDIM share: the respaced grid, the ᾱ lookups, and turning a model output into x̂_0 / ε̂."""

    def __init__(self, schedule: NoiseSchedule, prediction_type: str, clip_sample: bool) -> None:
        _check_prediction_type(prediction_type)
        self.schedule = schedule
        self.prediction_type = prediction_type
        self.clip_sample = bool(clip_sample)
        self.set_timesteps(None)

    # -- the grid --------------------------------------------------------------------------------------------
    def set_timesteps(self, num_steps: int | None = None, *, timesteps: Sequence[int] | None = None) -> None:
        """Visit all T steps (``None``), ``num_steps`` evenly spaced ones, or the explicit ``timesteps``."""
        T = self.schedule.num_train_timesteps
        if timesteps is not None:
            grid = sorted({int(t) for t in timesteps})
            if not grid or grid[0] < 0 or grid[-1] >= T:
                raise ValueError(f"timesteps must be a non-empty subset of [0, {T - 1}]")
        elif num_steps is None:
            grid = list(range(T))
        else:
            grid = respaced_timesteps(T, int(num_steps))
        self._grid = grid
        self._index = {t: i for i, t in enumerate(grid)}
        self.num_inference_steps = len(grid)
        self.timesteps = torch.tensor(grid[::-1], dtype=torch.long)
        if grid == list(range(T)):
            self.grid_schedule = self.schedule
        else:
            ab = self.schedule.alphas_cumprod[grid]
            ab_prev = torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
            self.grid_schedule = NoiseSchedule(
                f"{self.schedule.name}/respaced{len(grid)}", 1.0 - ab / ab_prev
            )

    def grid_index(self, t: int) -> int:
        """Position of ``t`` on the ascending grid (τ_i = t)."""
        try:
            return self._index[int(t)]
        except KeyError:
            raise ValueError(
                f"timestep {int(t)} is not on this sampler's grid (first {self._grid[:3]}, "
                f"last {self._grid[-1]}); call set_timesteps or use sampler.timesteps"
            ) from None

    def prev_timestep(self, t: int) -> int:
        """The grid point below ``t``; ``-1`` (the clean image) below the first one."""
        i = self.grid_index(t)
        return self._grid[i - 1] if i > 0 else CLEAN

    def next_timestep(self, t: int) -> int:
        """The grid point above ``t`` (``t = -1`` gives the first grid point)."""
        if int(t) == CLEAN:
            return self._grid[0]
        i = self.grid_index(t)
        if i + 1 >= len(self._grid):
            raise ValueError(f"timestep {int(t)} is the top of the grid; there is no next one")
        return self._grid[i + 1]

    def alpha_bar(self, t: int) -> float:
        """ᾱ_t as a float (1.0 for the clean level ``-1``)."""
        return 1.0 if int(t) == CLEAN else float(self.schedule.alphas_cumprod[int(t)])

    # -- model outputs ---------------------------------------------------------------------------------------
    @staticmethod
    def _split(model_output: Tensor, x_t: Tensor, learned: bool) -> tuple[Tensor, Tensor | None]:
        """Separate a learned-variance model's second half of channels (IDDPM) from the prediction."""
        channels = x_t.shape[1]
        if model_output.shape[1] == channels and not learned:
            return model_output, None
        if model_output.shape[1] == 2 * channels:
            mean_part, var_part = model_output.split(channels, dim=1)
            return mean_part, var_part
        want = f"{2 * channels}" if learned else f"{channels} (or {2 * channels} with a learned variance)"
        raise ValueError(f"model output has {model_output.shape[1]} channels; expected {want}")

    def _x0_eps(self, x_t: Tensor, model_output: Tensor, t: int) -> tuple[Tensor, Tensor]:
        """x̂_0 and ε̂ at ``t``; with ``clip_sample`` x̂_0 is clamped to [-1, 1] and ε̂ recomputed to match."""
        x0 = self.schedule.predict_x0(x_t, model_output, t, self.prediction_type)
        if self.clip_sample:
            x0 = x0.clamp(-1.0, 1.0)
            return x0, self.schedule.eps_from_x0(x_t, x0, t)
        return x0, self.schedule.predict_eps(x_t, model_output, t, self.prediction_type)


class DDPMSampler(_GridSampler):
    """Ancestral sampling, DDPM Algorithm 2, on a (possibly respaced) grid.

    ``variance``: ``"beta"`` σ² = β (the paper's choice), ``"posterior"`` σ² = β̃ (DDPM Eq. 7), or
    ``"learned_range"`` (IDDPM Eq. 15: the model's extra C channels v ∈ [-1, 1] give
    log σ² = (v+1)/2 · log β + (1 − (v+1)/2) · log β̃). On a respaced grid β and β̃ are those of the respaced
    process. The mean is the posterior mean at x̂_0, which equals Algorithm 2's
    1/√α_t (x_t − β_t/√(1−ᾱ_t) ε̂) when x̂_0 is not clipped.
    """

    def __init__(
        self,
        schedule: NoiseSchedule,
        variance: str = "beta",
        prediction_type: str = "epsilon",
        clip_sample: bool = False,
    ) -> None:
        if variance not in VARIANCES:
            raise ValueError(f"variance must be one of {VARIANCES}, got {variance!r}")
        self.variance = variance
        super().__init__(schedule, prediction_type, clip_sample)

    def log_variance(self, t: int, like: Tensor, var_values: Tensor | None = None) -> Tensor:
        """log σ²_t of the step from ``t``, broadcastable to ``like`` (per element for a learned variance)."""
        g, i = self.grid_schedule, self.grid_index(t)
        log_beta = g.coefficient(g.log_betas, i, like)
        log_post = g.coefficient(g.posterior_log_variance_clipped, i, like)
        if self.variance == "beta":
            return log_beta
        if self.variance == "posterior":
            return log_post
        if var_values is None:
            raise ValueError("variance='learned_range' needs the model's variance channels")
        frac = (var_values + 1.0) / 2.0
        return frac * log_beta + (1.0 - frac) * log_post

    def step(
        self, model_output: Tensor, t: int, x_t: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """x_{prev(t)} ~ p(x_{prev(t)} | x_t); the step from the first grid point returns the mean (z = 0)."""
        t = int(t)
        out, var_values = self._split(model_output, x_t, learned=self.variance == "learned_range")
        i = self.grid_index(t)
        x0, _ = self._x0_eps(x_t, out, t)
        mean = self.grid_schedule.posterior_mean(x0, x_t, i)
        if i == 0:
            return mean
        log_var = self.log_variance(t, x_t, var_values)
        return mean + torch.exp(0.5 * log_var) * randn_like(x_t, generator)


class DDIMSampler(_GridSampler):
    """DDIM (Song et al. 2021, Eq. 12) on a (possibly respaced) grid, and its deterministic inversion.

    ``eta`` scales the noise: 0 is the deterministic ODE-like sampler, 1 matches DDPM's posterior variance.
    A learned-variance model's extra channels are ignored.
    """

    def __init__(
        self,
        schedule: NoiseSchedule,
        eta: float = 0.0,
        prediction_type: str = "epsilon",
        clip_sample: bool = False,
    ) -> None:
        if eta < 0:
            raise ValueError(f"eta must be ≥ 0, got {eta}")
        self.eta = float(eta)
        super().__init__(schedule, prediction_type, clip_sample)

    def sigma(self, t: int) -> float:
        """σ_t(η) of DDIM Eq. 16 for the step from ``t`` to ``prev_timestep(t)``."""
        ab_t, ab_prev = self.alpha_bar(t), self.alpha_bar(self.prev_timestep(t))
        return self.eta * math.sqrt((1.0 - ab_prev) / (1.0 - ab_t) * (1.0 - ab_t / ab_prev))

    def step(
        self, model_output: Tensor, t: int, x_t: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """x_{prev(t)} = √ᾱ_prev x̂_0 + √(1 − ᾱ_prev − σ²) ε̂ + σ z; from the first grid point ᾱ_prev = 1."""
        t = int(t)
        out, _ = self._split(model_output, x_t, learned=False)
        ab_prev = self.alpha_bar(self.prev_timestep(t))
        x0, eps = self._x0_eps(x_t, out, t)
        sigma = self.sigma(t)
        x_prev = math.sqrt(ab_prev) * x0 + math.sqrt(max(1.0 - ab_prev - sigma**2, 0.0)) * eps
        if sigma > 0:
            x_prev = x_prev + sigma * randn_like(x_t, generator)
        return x_prev

    def inversion_model_timestep(self, t: int) -> int:
        """The timestep to evaluate the model at for ``invert_step(·, t, x)``: ``t`` itself (see there)."""
        self.grid_index(t)
        return int(t)

    def invert_step(self, model_output: Tensor, t: int, x_t: Tensor) -> Tensor:
        """The deterministic DDIM step from the grid point below ``t`` up to ``t`` (the inverse of ``step``).

        ``x_t`` is the sample at level ``s = prev_timestep(t)`` (the clean image, ᾱ = 1, when ``t`` is the first
        grid point) and ``model_output = model(x_t, t)``: the model is asked at the *upper* level, whose ε̂ the
        matching ``step(·, t, ·)`` will use on the way down (as diffusers' DDIMInverseScheduler and null-text
        inversion do; IDDPM's reverse sampler asks at ``s``). With ε̂ read this way the step is the exact inverse
        of ``step(·, t, ·)`` whenever ε̂ does not depend on x, and on the Gaussian toy its encode→decode error is
        2–5x smaller than asking at ``s``. Returns x_t = √ᾱ_t x̂_0 + √(1−ᾱ_t) ε̂ with
        x̂_0 = (x_s − √(1−ᾱ_s) ε̂) / √ᾱ_s.
        """
        t = int(t)
        out, _ = self._split(model_output, x_t, learned=False)
        s = self.prev_timestep(t)
        eps = self.schedule.predict_eps(x_t, out, t, self.prediction_type)
        ab_s, ab_t = self.alpha_bar(s), self.alpha_bar(t)
        x0 = (x_t - math.sqrt(1.0 - ab_s) * eps) / math.sqrt(ab_s)
        if self.clip_sample and s != CLEAN:  # mirror step(): clamp x̂_0 and re-derive ε̂ at the lower level
            x0 = x0.clamp(-1.0, 1.0)
            eps = (x_t - math.sqrt(ab_s) * x0) / math.sqrt(1.0 - ab_s)
        return math.sqrt(ab_t) * x0 + math.sqrt(1.0 - ab_t) * eps
