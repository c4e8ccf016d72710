"""ProGAN plugin: equalised LR, minibatch stddev, fade-in continuity, WGAN-GP, resume after SIGKILL, CLI."""

from __future__ import annotations

import math
from pathlib import Path

import _gan_checks as gan
import pytest
import torch
import torch.nn.functional as F
from augdiff_progan.generator import ProGAN
from augdiff_progan.layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm
from augdiff_progan.losses import discriminator_loss, gradient_penalty
from augdiff_progan.networks import ProDiscriminator, ProGenerator
from augdiff_progan.trainer import ProGANSettings, ProGANTrainer, Schedule

pytestmark = pytest.mark.usefixtures("one_thread")


TINY = {"image_size": 8, "latent_dim": 8, "fmap_base": 32, "fmap_max": 8, "phase_images": 8, "batch_size": 4,
        "checkpoint_every": 2, "ema_decay": 0.5, "device": "cpu"}


# -- layers ------------------------------------------------------------------------------------------------
def test_equalized_conv_scales_stored_weights_by_he_constant_at_run_time() -> None:
    torch.manual_seed(0)
    conv = EqualizedConv2d(64, 64, 3)
    assert abs(conv.weight.std().item() - 1.0) < 0.02  # stored as N(0, 1)
    x = torch.randn(2, 64, 5, 5)
    he = math.sqrt(2.0 / (64 * 3 * 3))
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight * he, conv.bias, padding=1))
    with torch.no_grad():  # the scale is applied in forward, not baked into the parameter
        conv.weight.mul_(2.0)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight * he, conv.bias, padding=1))


def test_equalized_linear_scales_by_gain_over_sqrt_fan_in() -> None:
    lin = EqualizedLinear(50, 3, gain=1.0)
    x = torch.randn(4, 50)
    torch.testing.assert_close(lin(x), x @ (lin.weight / math.sqrt(50)).T + lin.bias)


def test_pixel_norm_gives_unit_rms_per_pixel() -> None:
    y = PixelNorm()(torch.randn(3, 16, 4, 4) * 7)
    torch.testing.assert_close(y.pow(2).mean(dim=1), torch.ones(3, 4, 4), rtol=1e-4, atol=1e-4)


def test_minibatch_stddev_matches_hand_computation_over_groups_of_four() -> None:
    x = torch.randn(8, 2, 3, 3)
    y = MinibatchStdDev(4, eps=0.0)(x)
    assert y.shape == (8, 3, 3, 3)
    for i in range(8):  # sample i is grouped with i ± 2k (groups are strided, as in the official code)
        group = x[i % 2 :: 2]
        expected = group.std(dim=0, unbiased=False).mean()
        torch.testing.assert_close(y[i, 2], torch.full((3, 3), expected.item()), rtol=1e-5, atol=1e-6)


# -- progressive growing -----------------------------------------------------------------------------------
def test_generator_fade_in_starts_at_upsampled_smaller_network() -> None:
    torch.manual_seed(0)
    g = ProGenerator(32, latent_dim=16, fmap_base=64, fmap_max=16, num_classes=2)
    z, y = torch.randn(3, 16), torch.tensor([0, 1, 1])
    for stage in (1, 2, 3):
        small = g(z, y, stage=stage - 1, alpha=1.0)
        grown = g(z, y, stage=stage, alpha=0.0)
        torch.testing.assert_close(grown, F.interpolate(small, scale_factor=2, mode="nearest"))
        # and it moves continuously away from there as alpha rises
        near = g(z, y, stage=stage, alpha=1e-4)
        assert 0 < (near - grown).abs().max() < 1e-2 * (g(z, y, stage=stage, alpha=1.0) - grown).abs().max()


def test_discriminator_fade_in_starts_at_smaller_network_on_downsampled_input() -> None:
    torch.manual_seed(0)
    d = ProDiscriminator(16, fmap_base=64, fmap_max=16, num_classes=2)
    x, y = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 0, 1])
    torch.testing.assert_close(d(x, y, stage=2, alpha=0.0), d(F.avg_pool2d(x, 2), y, stage=1, alpha=1.0))


def test_schedule_runs_stable_then_fade_and_stable_per_resolution() -> None:
    sched = Schedule(16, phase_images=40, batch_size=10)
    assert [(p.resolution, p.label) for p in sched.phases] == [
        (4, "stable"), (8, "fade-in"), (8, "stable"), (16, "fade-in"), (16, "stable")
    ]
    assert sched.total_steps == 20
    assert [sched.at(s)[1] for s in range(4, 8)] == [0.0, 0.25, 0.5, 0.75]
    assert sched.at(8) == (sched.phases[2], 1.0)
    assert [s for s in range(20) if sched.starts_stage(s)] == [0, 4, 12]


# -- WGAN-GP ---------------------------------------------------------------------------------------------
def test_gradient_penalty_of_linear_critic_is_norm_of_weights_minus_one_squared() -> None:
    w = torch.randn(1, 3, 4, 4)

    def critic(x: torch.Tensor) -> torch.Tensor:
        return (x * w).flatten(1).sum(1) + 0.3

    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    gp = gradient_penalty(critic, real, fake)
    torch.testing.assert_close(gp, (w.norm() - 1).pow(2))


def test_gradient_penalty_and_loss_match_hand_computation_for_quadratic_critic() -> None:
    # D(x) = ½‖x‖² has ∇D(x̂) = x̂, so GP = mean((‖ε·r + (1 − ε)·f‖ − 1)²) with the same ε draws.
    def critic(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x.flatten(1).pow(2).sum(1)

    real, fake = torch.randn(6, 2, 3, 3) * 0.3, torch.randn(6, 2, 3, 3) * 0.3
    eps = torch.rand(6, 1, 1, 1, generator=torch.Generator().manual_seed(7))
    mixed = eps * real + (1 - eps) * fake
    expected_gp = (mixed.flatten(1).norm(dim=1) - 1).pow(2).mean()
    gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(gp, expected_gp)

    loss, info = discriminator_loss(critic, real, fake, generator=torch.Generator().manual_seed(7))
    d_real, d_fake = critic(real), critic(fake)
    expected = d_fake.mean() - d_real.mean() + 10.0 * expected_gp + 0.001 * d_real.pow(2).mean()
    torch.testing.assert_close(loss, expected)
    assert info["w_dist"] == pytest.approx((d_real.mean() - d_fake.mean()).item(), rel=1e-5)


# -- training, resume, persistence ---------------------------------------------------------------------
def _trainer(workdir: Path) -> ProGANTrainer:
    images, labels = gan.toy_images()
    return ProGANTrainer(ProGANSettings.from_config(TINY), images, labels, workdir, num_classes=2, seed=3)


# The killed run imports only what training needs (not this module, which pulls in the CLI).
_KILLED_TRAINER = """
from augdiff_progan.trainer import ProGANSettings, ProGANTrainer
trainer = ProGANTrainer(ProGANSettings.from_config(config), images, labels, workdir, num_classes=2, seed=3)
"""


def test_resume_after_sigkill_gives_the_uninterrupted_weights(tmp_path: Path) -> None:
    gan.check_resume_after_sigkill(tmp_path, _KILLED_TRAINER, _trainer, config=TINY, size=8,
                               networks=("G", "D", "G_ema"))


def test_per_class_models_save_load_and_generate_identically(tmp_path: Path) -> None:
    config = {**ProGAN.default_config("smoke"), **TINY, "per_class": True, "checkpoint_every": 100}
    gen = ProGAN(config, ["a", "b"])
    gen.fit(gan.toy_split(), tmp_path / "work", seed=0)
    assert len(gen.models) == 2 and gen.models[0].embed is None
    assert (tmp_path / "work" / "class-1" / "checkpoints").is_dir()
    gan.check_save_load_generates_identically(gen, tmp_path, size=8)


def test_image_size_must_be_a_power_of_two_times_four() -> None:
    from augdiff.errors import AugdiffError

    with pytest.raises(AugdiffError, match="image_size=24"):
        ProGAN.from_profile("smoke", ["a"], {"image_size": 24})


def test_cli_fit_then_augment_writes_pngs(runner, tmp_path: Path) -> None:
    gan.check_cli_fit_then_augment(runner, tmp_path, "progan")
