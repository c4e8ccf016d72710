"""Batch Mixup / CutMix on soft targets: λ's law, mass conservation, CutMix's exact area, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import betaincinv

from augdiff.classify.mixing import BatchMix, beta_sample, cutmix, cutmix_box, mixup


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(n: int = 8, k: int = 3, size: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = _gen(seed)
    x = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    y = torch.softmax(torch.randn(n, k, generator=g), dim=1)  # soft targets, as generated sets have
    return x, y


def test_beta_sample_is_the_beta_quantile_of_the_generators_next_uniform():
    g, replay = _gen(7), _gen(7)
    for alpha in (0.2, 1.0, 2.0):
        u = torch.rand((), generator=replay, dtype=torch.float64).item()
        assert beta_sample(alpha, g) == pytest.approx(float(betaincinv(alpha, alpha, u)), abs=1e-12)


def test_beta_sample_follows_beta_alpha_alpha():
    g = _gen(0)
    uniform = np.array([beta_sample(1.0, g) for _ in range(4000)])
    assert uniform.mean() == pytest.approx(0.5, abs=0.02)
    assert np.mean(uniform < 0.25) == pytest.approx(0.25, abs=0.03)
    peaked = np.array([beta_sample(0.2, g) for _ in range(4000)])  # mixup's α: mass piles up near 0 and 1
    assert np.mean((peaked > 0.1) & (peaked < 0.9)) < 0.35
    assert peaked.var() == pytest.approx(1 / (4 * (2 * 0.2 + 1)), rel=0.1)  # Var Beta(α, α) = 1 / (4(2α + 1))


def test_mixup_mixes_pixels_and_targets_with_one_lambda():
    x, y = _batch()
    x_mix, y_mix = mixup(x, y, 0.4, _gen(3))
    replay = _gen(3)
    lam = beta_sample(0.4, replay)
    perm = torch.randperm(len(x), generator=replay)
    torch.testing.assert_close(x_mix, lam * x + (1 - lam) * x[perm])
    torch.testing.assert_close(y_mix, lam * y + (1 - lam) * y[perm])
    torch.testing.assert_close(y_mix.sum(1), torch.ones(len(y)))
    assert not torch.equal(x_mix, x)


def test_cutmix_label_weight_is_exactly_the_kept_pixel_share():
    n, k, size = 8, 8, 16
    # Image i is the constant i and its target one-hot i, so pixel shares can be counted exactly.
    x = torch.arange(n, dtype=torch.float32)[:, None, None, None].expand(n, 3, size, size).contiguous()
    y = torch.eye(n, k)
    for seed in range(40):
        x_mix, y_mix = cutmix(x, y, 1.0, _gen(seed))
        torch.testing.assert_close(y_mix.sum(1), torch.ones(n))
        for i in range(n):
            kept = (x_mix[i] == i).float().mean().item()
            pasted = 1.0 - kept
            if pasted == 0.0:  # empty box (λ near 1) or the partner is itself
                assert y_mix[i, i].item() == pytest.approx(1.0)
                continue
            partners = x_mix[i][x_mix[i] != i].unique()
            assert len(partners) == 1
            partner = int(partners.item())
            assert y_mix[i, i].item() == pytest.approx(kept, abs=1e-6)
            assert y_mix[i, partner].item() == pytest.approx(pasted, abs=1e-6)
            # The pasted region is one axis-aligned box taken from the partner at the same place.
            rows, cols = torch.nonzero(x_mix[i, 0] != i, as_tuple=True)
            box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
            assert box.item() == len(rows)


def test_cutmix_box_area_is_one_minus_the_corrected_lambda_even_when_clipped():
    g = _gen(11)
    height, width = 16, 12
    clipped = 0
    for _ in range(300):
        lam = beta_sample(1.0, g)
        top, bottom, left, right = cutmix_box(height, width, lam, g)
        assert 0 <= top <= bottom <= height and 0 <= left <= right <= width
        full = int(height * (1 - lam) ** 0.5) * int(width * (1 - lam) ** 0.5)
        clipped += (bottom - top) * (right - left) < full
    assert clipped > 0  # the corner cases the λ correction exists for do occur


def test_cutmix_and_mixup_replay_with_the_same_seed_and_differ_across_seeds():
    x, y = _batch()
    for fn in (mixup, cutmix):
        a, b, c = fn(x, y, 1.0, _gen(5)), fn(x, y, 1.0, _gen(5)), fn(x, y, 1.0, _gen(6))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        assert not torch.equal(a[0], c[0])


def test_batch_mix_defaults_validation_and_identity_at_prob_zero():
    assert BatchMix("mixup").alpha == 0.2 and BatchMix("cutmix").alpha == 1.0
    assert BatchMix("cutmix", alpha=0.5).to_dict() == {"kind": "cutmix", "alpha": 0.5, "prob": 1.0}
    for bad in ({"kind": "mosaic"}, {"kind": "mixup", "alpha": 0.0}, {"kind": "cutmix", "prob": 1.5}):
        with pytest.raises(ValueError):
            BatchMix(**bad)
    x, y = _batch()
    g = _gen(0)
    for kind in ("mixup", "cutmix"):
        x_out, y_out = BatchMix(kind, prob=0.0).apply(x, y, g)
        assert torch.equal(x_out, x) and torch.equal(y_out, y)


def test_batch_mix_apply_is_reproducible_and_respects_prob():
    x, y = _batch()
    mix = BatchMix("cutmix", prob=0.5)
    g1, g2 = _gen(9), _gen(9)
    applied = 0
    for _ in range(60):
        a, b = mix.apply(x, y, g1), mix.apply(x, y, g2)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        applied += not torch.equal(a[1], y)
    assert 15 < applied < 45
