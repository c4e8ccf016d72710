"""U-BDP: DDIM encoding/decoding through the core's functions, and the batched variable-depth decode."""

from __future__ import annotations

import torch
from augdiff_add.bridge import Bridge, CountingModel

from augdiff.diffusion.models import ADMUNet
from augdiff.diffusion.samplers import DDIMSampler
from augdiff.diffusion.sampling import ddim_decode, ddim_encode
from augdiff.diffusion.schedules import make_schedule

TINY = dict(base_channels=16, channel_mult=(1, 2), num_res_blocks=1, attention_resolutions=(8,), num_head_channels=8)


def _model(kind: str, seed: int) -> ADMUNet:
    """A tiny U-Net whose output layer is small but non-zero (ADM zero-initialises it, which would make ε ≡ 0)."""
    torch.manual_seed(seed)
    model = ADMUNet(16, attention=kind, **TINY)
    torch.nn.init.normal_(model.out[-1].weight, std=0.02)
    return model.eval()


def _smooth_images(n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    low = torch.rand((n, 3, 4, 4), generator=g) * 1.6 - 0.8
    return torch.nn.functional.interpolate(low, size=16, mode="bilinear", align_corners=False)


class GaussianDenoiser(torch.nn.Module):
    """The exact ε-predictor for data ~ N(0, σ²I): a perfectly trained model, so DDIM's ODE is the true one.

    ε*(x_t) = √(1−ᾱ) x_t / (ᾱσ² + 1 − ᾱ).
    """

    def __init__(self, variance: float = 0.3) -> None:
        super().__init__()
        self.alpha_bar = make_schedule("linear").alphas_cumprod.float()
        self.variance = variance

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = self.alpha_bar[t].view(-1, 1, 1, 1)
        return (1 - ab).sqrt() * x / (ab * self.variance + 1 - ab)


def test_ddim_encode_then_decode_with_the_same_model_reconstructs_the_input() -> None:
    sampler = DDIMSampler(make_schedule("linear"))
    sampler.set_timesteps(100)
    x0 = _smooth_images(4)
    # A tiny untrained U-Net is not a consistent score model, so only moderate depths invert well.
    model = _model("global", 0)
    t_mid, x_mid = ddim_encode(model, sampler, x0, until_index=30)[-1]
    assert t_mid == sampler.timesteps.flip(0)[30].item()
    assert (ddim_decode(model, sampler, x_mid, t_mid) - x0).abs().max() < 0.03
    # With an exact denoiser the whole 100-step grid, up to (almost) pure noise, inverts.
    exact = GaussianDenoiser()
    t_top, x_top = ddim_encode(exact, sampler, x0)[-1]
    assert t_top == 999 and x_top.std() > 0.5
    assert (ddim_decode(exact, sampler, x_top, t_top) - x0).abs().max() < 0.05


def test_bridge_decodes_many_depths_in_one_batch_exactly_like_separate_decodes() -> None:
    source, target = CountingModel(_model("global", 1)), CountingModel(_model("local", 2))
    bridge = Bridge(source, target, make_schedule("linear"), 10, batch_size=4)
    x0 = _smooth_images(3)
    latents = bridge.encode(x0)
    assert latents.shape == (3, 10, 3, 16, 16)
    assert source.evaluations == 3 * 10 and target.evaluations == 0  # each source encoded once
    pairs = [(0, 9), (1, 3), (2, 0), (0, 5), (2, 7)]
    batched = bridge.decode(latents, pairs)
    # Decoding from grid index k costs k + 1 evaluations: the member joins the batch at its own depth.
    assert target.evaluations == sum(k + 1 for _, k in pairs)
    for row, (s, k) in enumerate(pairs):
        alone = ddim_decode(target, bridge.sampler, latents[s, k][None], bridge.grid[k])
        torch.testing.assert_close(batched[row][None], alone, atol=1e-5, rtol=1e-5)


def test_full_bridge_with_the_same_model_both_ways_is_the_identity() -> None:
    exact = GaussianDenoiser()
    bridge = Bridge(exact, exact, make_schedule("linear"), 50)
    x0 = _smooth_images(2)
    assert (bridge.translate(x0) - x0).abs().max() < 0.05
