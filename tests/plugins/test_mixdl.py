"""MixDL plugin: Dirichlet mixup, the distance loss and StyleGAN2 losses by hand, w-space mixing, resume, CLI."""

from __future__ import annotations

import math
from pathlib import Path

import _gan_checks as gan
import pytest
import torch
import torch.nn.functional as F
from augdiff_mixdl.generator import MixDL
from augdiff_mixdl.losses import (
    cosine_matrix,
    d_logistic,
    distance_loss,
    g_nonsaturating,
    generator_similarities,
    mixup_coefficients,
    r1_penalty,
)
from augdiff_mixdl.networks import MixDiscriminator, MixGenerator, ModulatedConv2d, widths_for
from augdiff_mixdl.trainer import MixDLSettings, MixDLTrainer

from augdiff.errors import AugdiffError

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"image_size": 16, "latent_dim": 8, "n_mlp": 1, "fmap_base": 64, "fmap_max": 8, "batch_size": 2,
        "steps": 6, "checkpoint_every": 2, "d_reg_every": 2, "mixup_every": 2, "patch_resolutions": [8],
        "ema_decay": 0.5, "device": "cpu"}


# -- mixup coefficients and the distance loss ------------------------------------------------------------
def test_dirichlet_coefficients_lie_on_the_simplex_and_follow_the_seed() -> None:
    c = mixup_coefficients(2000, 4, 1.0, torch.Generator().manual_seed(0))
    assert c.shape == (2000, 4) and c.dtype == torch.float32 and (c >= 0).all()
    torch.testing.assert_close(c.sum(1), torch.ones(2000))
    torch.testing.assert_close(c.mean(0), torch.full((4,), 0.25), atol=0.02, rtol=0)  # E[c_j] = α_j / Σα
    # Dir(1, 1, 1, 1) has Var[c_j] = (1/4)(3/4) / 5 = 0.0375.
    assert c.var(0).sub(0.0375).abs().max() < 0.006
    again = mixup_coefficients(2000, 4, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(c, again)
    sparse = mixup_coefficients(500, 4, 0.1, torch.Generator().manual_seed(1))
    assert sparse.max(1).values.mean() > 0.8  # small α concentrates each row on few anchors


def test_distance_loss_is_zero_when_similarities_match_the_coefficients() -> None:
    c = mixup_coefficients(3, 3, 1.0, torch.Generator().manual_seed(2))
    assert distance_loss(c, c).item() == pytest.approx(0.0, abs=1e-7)
    assert distance_loss(c + 0.3, c, temperature=0.1).item() == pytest.approx(0.0, abs=1e-6)  # row shifts
    assert distance_loss(c.flip(1), c).item() > 0


def test_distance_loss_matches_hand_computation() -> None:
    s = torch.tensor([[0.9, 0.1], [0.2, 0.4]])
    c = torch.tensor([[0.7, 0.3], [0.0, 1.0]])
    tau = 0.5
    total = 0.0
    for i in range(2):
        p = [math.exp(s[i, j].item() / tau) for j in range(2)]
        q = [math.exp(c[i, j].item() / tau) for j in range(2)]
        p, q = [v / sum(p) for v in p], [v / sum(q) for v in q]
        total += sum(q[j] * math.log(q[j] / p[j]) for j in range(2))
    assert distance_loss(s, c, tau).item() == pytest.approx(total / 4, rel=1e-5)  # mean over the 2×2 entries


def test_generator_similarities_use_each_rows_own_layer() -> None:
    feats_m = [torch.randn(3, 2, 4, 4), torch.randn(3, 5, 2, 2)]
    feats_a = [torch.randn(3, 2, 4, 4), torch.randn(3, 5, 2, 2)]
    sims = generator_similarities(feats_m, feats_a, torch.tensor([1, 0, 1]))
    assert sims.shape == (3, 3)
    for i, layer in enumerate([1, 0, 1]):
        for j in range(3):
            expected = F.cosine_similarity(feats_m[layer][i].flatten(), feats_a[layer][j].flatten(), dim=0)
            assert sims[i, j].item() == pytest.approx(expected.item(), abs=1e-6)
    torch.testing.assert_close(cosine_matrix(feats_a[0], feats_a[0]).diagonal(), torch.ones(3))


# -- StyleGAN2 losses ------------------------------------------------------------------------------------
def test_logistic_losses_match_hand_computation() -> None:
    real, fake = torch.tensor([1.0, -0.5]), torch.tensor([0.0, 2.0])
    expected_d = (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(0.5))) / 2 + (
        math.log(2.0) + math.log1p(math.exp(2.0))) / 2
    assert d_logistic(real, fake).item() == pytest.approx(expected_d, rel=1e-6)
    assert g_nonsaturating(fake).item() == pytest.approx((math.log(2.0) + math.log1p(math.exp(-2.0))) / 2)


def test_r1_of_quadratic_critic_is_mean_squared_norm_of_inputs() -> None:
    x = torch.randn(4, 3, 2, 2, requires_grad=True)
    scores = 0.5 * x.flatten(1).pow(2).sum(1)  # ∇D(x) = x
    torch.testing.assert_close(r1_penalty(scores, x), x.detach().flatten(1).pow(2).sum(1).mean())


# -- networks --------------------------------------------------------------------------------------------
def test_modulated_conv_matches_per_sample_demodulated_weights() -> None:
    torch.manual_seed(0)
    conv = ModulatedConv2d(3, 4, 3, 5)
    x, w = torch.randn(2, 3, 6, 6), torch.randn(2, 5)
    out = conv(x, w)
    for i in range(2):
        style = conv.modulation(w[i : i + 1])[0]
        weight = conv.weight[0] * conv.scale * style[None, :, None, None]
        weight = weight / weight.pow(2).sum(dim=(1, 2, 3), keepdim=True).add(1e-8).sqrt()
        torch.testing.assert_close(out[i : i + 1], F.conv2d(x[i : i + 1], weight, padding=1), rtol=1e-4, atol=1e-5)


def test_mixing_with_one_hot_coefficients_reproduces_the_anchor() -> None:
    torch.manual_seed(0)
    g = MixGenerator(16, latent_dim=8, n_mlp=2, fmap_base=64, fmap_max=8)
    assert g.num_layers == 5 and widths_for(16, 64, 8) == {4: 8, 8: 8, 16: 4}
    w = g.map(torch.randn(3, 8))
    c = mixup_coefficients(3, 3, 1.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(c @ w, (c[:, :, None] * w[None]).sum(1))  # each row a convex mix of anchors
    perm = torch.eye(3)[[2, 0, 1]]
    img, feats = g.synthesis(perm @ w, generator=torch.Generator().manual_seed(5), return_feats=True)
    ref = g.synthesis(w[[2, 0, 1]], generator=torch.Generator().manual_seed(5))[0]
    torch.testing.assert_close(img, ref)
    assert img.shape == (3, 3, 16, 16) and [f.shape[-1] for f in feats] == [4, 8, 8, 16, 16]


def test_discriminator_scores_images_patches_and_projects_features() -> None:
    torch.manual_seed(0)
    d = MixDiscriminator(16, fmap_base=64, fmap_max=8, patch_resolutions=(8,))
    x = torch.randn(4, 3, 16, 16)
    assert d(x).shape == (4,)
    assert d(x, patch=0).shape == (4, 64)  # one score per 8×8 patch position
    assert d.similarity_features(x).shape == (4, 8)


# -- options ---------------------------------------------------------------------------------------------
def test_bad_options_are_one_line_errors_naming_the_option() -> None:
    with pytest.raises(AugdiffError, match=r"--set image_size=24"):
        MixDL.from_profile("smoke", ["a"], {"image_size": 24})
    with pytest.raises(AugdiffError, match=r"--set patch_resolutions=\[16\]: \[16\] not among"):
        MixDL.from_profile("smoke", ["a"], {"patch_resolutions": [16]})
    with pytest.raises(AugdiffError, match=r"--set temperature=0"):
        MixDL.from_profile("smoke", ["a"], {"temperature": 0})
    with pytest.raises(AugdiffError, match="no fitted weights"):
        MixDL.from_profile("smoke", ["a"]).generate(1)


# -- training, resume, persistence -----------------------------------------------------------------------
def _trainer(workdir: Path) -> MixDLTrainer:
    images, _ = gan.toy_images(size=16)
    return MixDLTrainer(MixDLSettings.from_config(TINY), images, workdir, seed=3)


# The killed run imports only what training needs (not this module, which pulls in the CLI).
_KILLED_TRAINER = """
from augdiff_mixdl.trainer import MixDLSettings, MixDLTrainer
trainer = MixDLTrainer(MixDLSettings.from_config(config), images, workdir, seed=3)
"""


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_uninterrupted_weights(tmp_path: Path) -> None:
    gan.check_resume_after_sigkill(tmp_path, _KILLED_TRAINER, _trainer, config=TINY, size=16,
                               networks=("G", "D", "ema.model"))


def test_one_model_per_class_saves_loads_and_generates_identically(tmp_path: Path) -> None:
    gen = MixDL({**MixDL.default_config("smoke"), **TINY, "steps": 2}, ["a", "b"])
    gen.fit(gan.toy_split(size=16), tmp_path / "work", seed=0)
    assert len(gen.models) == 2 and (tmp_path / "work" / "class-1" / "checkpoints").is_dir()
    gan.check_save_load_generates_identically(gen, tmp_path, size=16)


@pytest.mark.slow
def test_cli_fit_then_augment_writes_pngs_of_both_classes(runner, tmp_path: Path) -> None:
    gan.check_cli_fit_then_augment(runner, tmp_path, "mixdl")
