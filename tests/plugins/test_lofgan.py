"""LoFGAN plugin: local fusion (selection, matching, replacement), its losses by hand, resume after SIGKILL, CLI."""

from __future__ import annotations

from pathlib import Path

import _gan_checks as gan
import numpy as np
import pytest
import torch
from augdiff_lofgan.generator import LoFGAN
from augdiff_lofgan.losses import class_logit_penalty, d_hinge, g_hinge, local_reconstruction_loss
from augdiff_lofgan.networks import (
    LocalFusionModule,
    LoFDiscriminator,
    LoFGenerator,
    draw_fusion,
    fuse_at,
    match_positions,
)
from augdiff_lofgan.trainer import LoFGANSettings, LoFGANTrainer, learning_rate

from augdiff.data.spec import Split
from augdiff.errors import AugdiffError

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"image_size": 8, "g_widths": [4, 8], "d_widths": [4, 8], "k_shot": 2, "batch_size": 2, "steps": 6,
        "checkpoint_every": 2, "device": "cpu"}


# -- the local fusion module -------------------------------------------------------------------------------
def test_draw_fusion_gives_simplex_coefficients_and_distinct_positions() -> None:
    coeffs, positions = draw_fusion(5, 3, 16, 0.5, torch.Generator().manual_seed(0))
    assert coeffs.shape == (5, 3) and positions.shape == (5, 8)
    assert (coeffs >= 0).all()
    torch.testing.assert_close(coeffs.sum(1), torch.ones(5))
    assert all(len(set(row.tolist())) == 8 and min(row) >= 0 and max(row) < 16 for row in positions)
    again = draw_fusion(5, 3, 16, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(coeffs, again[0]) and torch.equal(positions, again[1])


def test_fusion_with_one_reference_and_coefficient_one_returns_the_base_features() -> None:
    feats = torch.randn(3, 1, 6, 4, 4)
    coeffs, positions = draw_fusion(3, 1, 16, 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(coeffs, torch.ones(3, 1))
    fused, ref_positions = LocalFusionModule()(feats, coeffs, positions)
    assert ref_positions.shape == (3, 0, 8)
    torch.testing.assert_close(fused, feats[:, 0])


def test_fusion_of_identical_references_returns_the_base_whatever_the_coefficients() -> None:
    base = torch.randn(2, 5, 3, 3)
    feats = torch.stack([base, base, base], dim=1)
    coeffs, positions = draw_fusion(2, 3, 9, 1.0, torch.Generator().manual_seed(2))
    fused, ref_positions = LocalFusionModule()(feats, coeffs, positions)
    assert torch.equal(ref_positions, positions[:, None].expand(2, 2, 9))  # each position matches itself
    torch.testing.assert_close(fused, base)


def test_matching_recovers_a_permutation_of_the_base_features() -> None:
    base = torch.randn(1, 8, 2, 3)
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(3))
    ref = base.flatten(2)[:, :, perm].view(1, 1, 8, 2, 3) * 2.5  # scaled: matching is by cosine similarity
    positions = torch.tensor([[0, 4, 5]])
    matched = match_positions(base, ref, positions)
    assert torch.equal(perm[matched[0, 0]], positions[0])


def test_fusion_matches_a_hand_computation() -> None:
    # 2 channels on a 2x2 grid; position p = row * 2 + col.
    base = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]]).T.reshape(1, 2, 2, 2)
    ref = torch.tensor([[0.0, 2.0], [3.0, 0.0], [-1.0, -1.0], [5.0, 5.0]]).T.reshape(1, 1, 2, 2, 2)
    positions, coeffs = torch.tensor([[0, 2]]), torch.tensor([[0.25, 0.75]])
    matched = match_positions(base, ref, positions)
    # [1, 0] is most cosine-similar to [3, 0] (p1); [1, 1] to [5, 5] (p3).
    assert matched.tolist() == [[[1, 3]]]
    fused = fuse_at(base, ref, coeffs, positions, matched).flatten(2)[0].T
    expected = torch.tensor([[0.25 * 1 + 0.75 * 3, 0.0], [0.0, 1.0], [0.25 + 0.75 * 5, 0.25 + 0.75 * 5],
                             [-1.0, 0.0]])
    torch.testing.assert_close(fused, expected)


def test_generator_and_discriminator_shapes() -> None:
    torch.manual_seed(0)
    g = LoFGenerator([4, 8, 8])
    assert g.feature_size(16) == 4
    refs = torch.rand(2, 3, 3, 16, 16) * 2 - 1
    coeffs, positions = draw_fusion(2, 3, 16, 0.5, torch.Generator().manual_seed(0))
    fake, ref_positions = g(refs, coeffs, positions)
    assert fake.shape == (2, 3, 16, 16) and fake.abs().max() <= 1
    assert ref_positions.shape == (2, 2, 8)
    adv, cls = LoFDiscriminator([4, 8, 16], num_classes=5)(fake)
    assert adv.shape == (2,) and cls.shape == (2, 5)


# -- losses by hand --------------------------------------------------------------------------------------
def test_hinge_losses_match_hand_computation() -> None:
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 0.5])
    loss_real, loss_fake = d_hinge(real, fake)
    assert loss_real.item() == pytest.approx((0 + 0.5 + 2.0) / 3)
    assert loss_fake.item() == pytest.approx((0 + 1.0 + 1.5) / 3)
    assert g_hinge(fake).item() == pytest.approx(-(-2.0 + 0.0 + 0.5) / 3)


def test_class_logit_penalty_of_a_linear_head_matches_hand_computation() -> None:
    # logits = x·W: ∇_{x_i} mean_j logit_j[y_j] = W[:, y_i] / N, so the penalty is Σ_i ‖W[:, y_i]‖² / N³.
    w = torch.randn(12, 3)
    x = torch.randn(4, 3, 2, 2, requires_grad=True)
    y = torch.tensor([0, 2, 2, 1])
    penalty = class_logit_penalty(x.flatten(1) @ w, y, x)
    expected = w[:, y].pow(2).sum() / 4**3
    torch.testing.assert_close(penalty, expected)


def test_local_reconstruction_loss_matches_hand_computation() -> None:
    refs = torch.randn(1, 2, 3, 4, 4)
    fake = torch.randn(1, 3, 4, 4)
    positions, ref_positions = torch.tensor([[3, 0]]), torch.tensor([[[1, 1]]])
    coeffs = torch.tensor([[0.4, 0.6]])
    loss = local_reconstruction_loss(refs, fake, coeffs, positions, ref_positions, size=2)
    small = refs[..., ::2, ::2].flatten(3)  # nearest 4 → 2 px keeps pixels 0 and 2 of each axis: (1, 2, 3, 4)
    target = small[0, 0].clone()
    target[:, 3] = 0.4 * small[0, 0, :, 3] + 0.6 * small[0, 1, :, 1]
    target[:, 0] = 0.4 * small[0, 0, :, 0] + 0.6 * small[0, 1, :, 1]
    expected = (fake[0, :, ::2, ::2].flatten(1) - target).abs().mean()
    torch.testing.assert_close(loss, expected)


def test_learning_rate_is_constant_then_decays_linearly_to_zero() -> None:
    s = LoFGANSettings(steps=10, lr=1.0)
    assert [round(learning_rate(i, s), 3) for i in (0, 5, 6, 8, 10)] == [1.0, 1.0, 0.8, 0.4, 0.0]
    assert learning_rate(9, LoFGANSettings(steps=10, lr=1.0, lr_decay=False)) == 1.0


# -- options ---------------------------------------------------------------------------------------------
def test_bad_options_are_one_line_errors_naming_the_option() -> None:
    with pytest.raises(AugdiffError, match=r"--set image_size=18: must be a multiple of 4"):
        LoFGAN.from_profile("smoke", ["a"], {"image_size": 18})
    with pytest.raises(AugdiffError, match=r"--set rate=1\.5"):
        LoFGAN.from_profile("smoke", ["a"], {"rate": 1.5})
    images, labels = gan.toy_images(5)
    split = Split("train", ["a", "b"], images, labels, [str(i) for i in range(5)])
    gen = LoFGAN({**LoFGAN.default_config("smoke"), **TINY, "k_shot": 3}, ["a", "b"])
    with pytest.raises(AugdiffError, match=r"--set k_shot=3: class 'b' has 2 training images"):
        gen.fit(split, Path("unused"), seed=0)
    with pytest.raises(AugdiffError, match="no fitted weights"):
        gen.generate(2)


# -- training, resume, persistence -----------------------------------------------------------------------
def _trainer(workdir: Path) -> LoFGANTrainer:
    images, labels = gan.toy_images()
    return LoFGANTrainer(LoFGANSettings.from_config(TINY), images, labels, workdir, num_classes=2, seed=3)


# The killed run imports only what training needs (not this module, which pulls in the CLI).
_KILLED_TRAINER = """
from augdiff_lofgan.trainer import LoFGANSettings, LoFGANTrainer
trainer = LoFGANTrainer(LoFGANSettings.from_config(config), images, labels, workdir, num_classes=2, seed=3)
"""


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_uninterrupted_weights(tmp_path: Path) -> None:
    # G and D: parameters and buffers (BatchNorm statistics, spectral-norm power iterates).
    gan.check_resume_after_sigkill(tmp_path, _KILLED_TRAINER, _trainer, config=TINY, size=8, networks=("G", "D"))


def test_save_load_generate_identically_with_references_of_the_class(tmp_path: Path) -> None:
    gen = LoFGAN({**LoFGAN.default_config("smoke"), **TINY, "steps": 2}, ["a", "b"])
    gen.fit(gan.toy_split(id_prefix="img"), tmp_path / "work", seed=0)
    a = gan.check_save_load_generates_identically(gen, tmp_path, size=8)
    for m, cls in zip(a.meta, [0, 0, 0, 1, 1]):
        refs = m["references"]
        assert len(refs) == len(set(refs)) == 2 and all(int(r[3:]) % 2 == cls for r in refs)
    assert not np.array_equal(gen.generate(5, seed=2).images, a.images)


@pytest.mark.slow
def test_cli_fit_then_augment_writes_pngs_of_both_classes(runner, tmp_path: Path) -> None:
    gan.check_cli_fit_then_augment(runner, tmp_path, "lofgan")
