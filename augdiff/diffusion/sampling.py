"""Sampling loops: draw from noise, DDIM-encode an image into its trajectory, DDIM-decode a latent.

The model is called as ``model(x, t, **model_kwargs)`` with ``t`` a LongTensor of shape ``(B,)``, under
``torch.no_grad()`` and in eval mode (its train/eval mode is restored afterwards), optionally under bf16 autocast.
Large batches are split into ``batch_size`` chunks; tensors in ``model_kwargs`` whose first dimension is the batch
(e.g. class labels ``y``) are split alongside. Results are float32 on ``device``/the input's device, not clamped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from augdiff import devices
from augdiff.diffusion.samplers import DDIMSampler, DDPMSampler, randn_like
from augdiff.progress import NullReporter, Reporter, Task

Sampler = DDPMSampler | DDIMSampler
Model = Callable[..., Tensor]


@contextlib.contextmanager
def _eval_mode(model: Model) -> Iterator[None]:
    if not isinstance(model, nn.Module):
        yield
        return
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _call(model: Model, x: Tensor, t: int, model_kwargs: dict[str, Any], autocast: bool) -> Tensor:
    tt = torch.full((x.shape[0],), int(t), dtype=torch.long, device=x.device)
    with torch.no_grad(), devices.autocast(x.device, "bf16" if autocast else "fp32"):
        out = model(x, tt, **model_kwargs)
    return out.float()


def _chunks(n: int, batch_size: int | None) -> list[slice]:
    size = n if not batch_size or batch_size >= n else int(batch_size)
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _slice_kwargs(model_kwargs: dict[str, Any], n: int, part: slice) -> dict[str, Any]:
    return {
        k: v[part] if isinstance(v, Tensor) and v.dim() > 0 and v.shape[0] == n else v
        for k, v in model_kwargs.items()
    }


def _task(progress: Reporter | None, description: str, total: int) -> contextlib.AbstractContextManager[Task]:
    return (progress or NullReporter()).task(description, total)


def _denoise(
    model: Model, sampler: DDPMSampler | DDIMSampler, x: Tensor, steps: list[int], kwargs: dict[str, Any],
    autocast: bool, generator: torch.Generator | None, task: Task,
) -> Tensor:
    """The reverse loop shared by ``sample`` and ``ddim_decode``: one model call and one sampler step per t."""
    for t in steps:
        x = sampler.step(_call(model, x, t, kwargs, autocast), t, x, generator)
        task.advance(1)
    return x


def sample(
    model: Model,
    sampler: Sampler,
    shape: tuple[int, ...] | torch.Size,
    *,
    generator: torch.Generator | None,
    device: str | torch.device = "cpu",
    model_kwargs: dict[str, Any] | None = None,
    progress: Reporter | None = None,
    autocast: bool = False,
    batch_size: int | None = None,
    x_T: Tensor | None = None,
) -> Tensor:
    """Run ``sampler`` over its grid from x_T ~ N(0, I) (or the given ``x_T``) down to x_0.

    Noise (initial and per step) comes from ``generator``, chunk by chunk, so a fixed seed and ``batch_size``
    give the same images.
    """
    device = torch.device(device)
    model_kwargs = model_kwargs or {}
    n = int(shape[0])
    parts = _chunks(n, batch_size)
    steps = sampler.timesteps.tolist()
    outputs = []
    with _eval_mode(model), _task(progress, "sampling", len(steps) * len(parts)) as task:
        for part in parts:
            count = part.stop - part.start
            if x_T is None:
                x = randn_like(torch.empty((count, *shape[1:]), device=device), generator)
            else:
                x = x_T[part].to(device=device, dtype=torch.float32)
            outputs.append(_denoise(model, sampler, x, steps, _slice_kwargs(model_kwargs, n, part), autocast,
                                    generator, task))
    return torch.cat(outputs)


def ddim_encode(
    model: Model,
    sampler: DDIMSampler,
    x0: Tensor,
    *,
    model_kwargs: dict[str, Any] | None = None,
    until_index: int | None = None,
    autocast: bool = False,
    batch_size: int | None = None,
    progress: Reporter | None = None,
) -> list[tuple[int, Tensor]]:
    """Deterministic DDIM inversion: the trajectory ``[(τ_0, x_{τ_0}), (τ_1, x_{τ_1}), …]`` from clean ``x0``.

    Goes up the sampler's ascending grid, to grid index ``until_index`` inclusive (the whole grid when None).
    ``ddim_decode(model, sampler, x, t)`` on the entry ``(t, x)`` runs exactly the same grid points back down,
    so encoding to depth t and decoding from t cover the same levels (no off-by-one). Latents stay on ``x0``'s
    device.
    """
    if not isinstance(sampler, DDIMSampler):
        raise TypeError("ddim_encode needs a DDIMSampler")
    grid = sampler.timesteps.flip(0).tolist()
    if until_index is not None:
        if not 0 <= until_index < len(grid):
            raise ValueError(f"until_index must be in [0, {len(grid) - 1}], got {until_index}")
        grid = grid[: until_index + 1]
    model_kwargs = model_kwargs or {}
    n = x0.shape[0]
    parts = _chunks(n, batch_size)
    per_part: list[list[Tensor]] = []
    with _eval_mode(model), _task(progress, "DDIM encoding", len(grid) * len(parts)) as task:
        for part in parts:
            x = x0[part].float()
            kwargs = _slice_kwargs(model_kwargs, n, part)
            levels = []
            for t in grid:
                out = _call(model, x, sampler.inversion_model_timestep(t), kwargs, autocast)
                x = sampler.invert_step(out, t, x)
                levels.append(x)
                task.advance(1)
            per_part.append(levels)
    return [(t, torch.cat([levels[k] for levels in per_part])) for k, t in enumerate(grid)]


def ddim_decode(
    model: Model,
    sampler: DDIMSampler,
    x_t: Tensor,
    t_start: int,
    *,
    model_kwargs: dict[str, Any] | None = None,
    autocast: bool = False,
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
    progress: Reporter | None = None,
) -> Tensor:
    """Run DDIM from grid point ``t_start`` (``x_t`` is at that level) down to the clean image.

    Deterministic for η = 0; with η > 0 the noise comes from ``generator``.
    """
    if not isinstance(sampler, DDIMSampler):
        raise TypeError("ddim_decode needs a DDIMSampler")
    sampler.grid_index(t_start)  # raises when t_start is not a grid point
    steps = [t for t in sampler.timesteps.tolist() if t <= int(t_start)]
    model_kwargs = model_kwargs or {}
    n = x_t.shape[0]
    parts = _chunks(n, batch_size)
    outputs = []
    with _eval_mode(model), _task(progress, "DDIM decoding", len(steps) * len(parts)) as task:
        for part in parts:
            x = x_t[part].float()
            outputs.append(_denoise(model, sampler, x, steps, _slice_kwargs(model_kwargs, n, part), autocast,
                                    generator, task))
    return torch.cat(outputs)
