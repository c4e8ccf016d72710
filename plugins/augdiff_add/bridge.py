"""U-BDP (ADD paper §2.1, Eq. 3–5): deterministic DDIM encoding with the source-domain model, DDIM decoding with
the target-domain model, on a respaced grid.

Each source is encoded ONCE; the latent at every grid depth is kept, so any depth can be decoded later without
re-encoding (the reference script re-ran the whole encoding for each depth). Decoding handles a batch whose
members start at different depths: it walks the grid from the deepest start down to 0 and lets each member join
at its own start, so all depths of all sources are decoded together. A latent encoded up to grid timestep t_k
is decoded starting AT t_k (the reference started one step lower).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import nn

from augdiff.devices import autocast
from augdiff.diffusion.samplers import DDIMSampler
from augdiff.diffusion.sampling import ddim_encode
from augdiff.diffusion.schedules import NoiseSchedule


class CountingModel(nn.Module):
    """Wraps a denoiser and counts network evaluations per image (an NFE for a batch of B counts B)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.evaluations = 0

    def forward(self, x: torch.Tensor, t: torch.Tensor, **kwargs: object) -> torch.Tensor:
        self.evaluations += int(x.shape[0])
        return self.model(x, t, **kwargs)


class Bridge:
    """Source model encodes, target model decodes; both on the same respaced DDIM grid (η = 0, no clipping)."""

    def __init__(
        self,
        source: nn.Module,
        target: nn.Module,
        schedule: NoiseSchedule,
        sample_steps: int | None,
        *,
        device: torch.device | str = "cpu",
        batch_size: int = 128,
        precision: str = "fp32",
        clip_decode: bool = False,
    ) -> None:
        self.source, self.target = source, target
        self.device = torch.device(device)
        self.batch_size, self.precision = int(batch_size), precision
        self.sampler = DDIMSampler(schedule, eta=0.0, prediction_type="epsilon", clip_sample=False)
        self.sampler.set_timesteps(sample_steps)
        # Optionally clamp x̂_0 to [-1, 1] while DECODING only (the encoding must stay the exact ODE inverse):
        # keeps an under-trained decoder from diverging at the noisiest levels. The reference never clips.
        self.decode_sampler = DDIMSampler(schedule, eta=0.0, prediction_type="epsilon", clip_sample=clip_decode)
        self.decode_sampler.set_timesteps(sample_steps)
        self.sample_steps = sample_steps
        self.grid = [int(t) for t in torch.flip(self.sampler.timesteps, dims=[0]).tolist()]  # ascending

    @property
    def num_depths(self) -> int:
        return len(self.grid)

    def _chunks(self, n: int) -> Iterator[slice]:
        for start in range(0, n, self.batch_size):
            yield slice(start, min(n, start + self.batch_size))

    @torch.no_grad()
    def encode(self, x0: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [-1, 1] → latents (N, S, C, H, W) at every grid depth, on the CPU."""
        trajectory = ddim_encode(
            self.source, self.sampler, x0.to(self.device), autocast=self.precision == "bf16",
            batch_size=self.batch_size,
        )
        timesteps = [int(t) for t, _ in trajectory]
        if timesteps != self.grid:
            raise RuntimeError(f"ddim_encode returned timesteps {timesteps[:3]}… not the grid {self.grid[:3]}…")
        return torch.stack([x.float().cpu() for _, x in trajectory], dim=1)

    @torch.no_grad()
    def decode(
        self,
        latents: torch.Tensor,
        pairs: Sequence[tuple[int, int]],
        *,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Decode ``latents[s, k]`` from grid depth k to 0 with the target model for every (s, k) in ``pairs``.

        ``eta`` > 0 decodes stochastically (DDIM's η, noise from the CPU ``generator``): a different sample of the
        same translation for the same latent.
        """
        sampler = self.decode_sampler
        if eta > 0:
            sampler = DDIMSampler(self.decode_sampler.schedule, eta=eta, prediction_type="epsilon",
                                  clip_sample=self.decode_sampler.clip_sample)
            sampler.set_timesteps(self.sample_steps)
        starts = torch.tensor([k for _, k in pairs], dtype=torch.long)
        x = torch.stack([latents[s, k] for s, k in pairs]).to(self.device)
        for k in range(int(starts.max()), -1, -1):
            active = torch.nonzero(starts >= k).flatten().to(self.device)  # members whose start is k or deeper
            t = self.grid[k]
            for part in self._chunks(len(active)):
                idx = active[part]
                xt = x[idx]
                with autocast(self.device, self.precision):
                    eps = self.target(xt, torch.full((len(idx),), t, dtype=torch.long, device=self.device))
                step = sampler.step(eps.float().cpu(), t, xt.cpu(), generator) if eta > 0 else \
                    sampler.step(eps.float(), t, xt)
                x[idx] = step.to(x.device, x.dtype)
        return x.cpu()

    def translate(self, x0: torch.Tensor) -> torch.Tensor:
        """Full-depth translation of every image (the final state x_l)."""
        latents = self.encode(x0)
        return self.decode(latents, [(i, self.num_depths - 1) for i in range(len(x0))])
