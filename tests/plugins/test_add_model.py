"""The ADM U-Net's two attention kinds (ADD's hybrid attention strategy) and its conditioning options."""

from __future__ import annotations

import pytest
import torch

from augdiff.diffusion.models import ADMUNet, attention_kind_of
from augdiff.diffusion.models.adm import GlobalAttention, LocalAttention, group_norm
from augdiff.errors import AugdiffError

TINY = dict(base_channels=16, channel_mult=(1, 2), num_res_blocks=1, attention_resolutions=(8,), num_head_channels=8)


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_global_and_local_attention_differ_in_parameters() -> None:
    glob, loc = GlobalAttention(32, 8), LocalAttention(32, 8)  # 4 heads
    # Dense q,k,v projection: 32 → 96 with 32·96 weights; grouped: each of 4 groups maps its 8 channels to 24.
    assert glob.qkv.weight.numel() == 32 * 96
    assert loc.qkv_grouped.weight.numel() == 32 * 96 // 4
    assert _params(ADMUNet(16, attention="global", **TINY)) > _params(ADMUNet(16, attention="local", **TINY))


def test_local_attention_does_not_mix_head_groups() -> None:
    torch.manual_seed(0)
    attn = LocalAttention(16, 8).eval()  # 2 head groups of 8 channels
    torch.nn.init.normal_(attn.proj_out.weight)
    attn.proj_out = torch.nn.Identity()  # look at the attention output itself, before the output projection
    x = torch.randn(1, 16, 4, 4)
    y = x.clone()
    y[:, 8:] += torch.randn(1, 8, 4, 4)  # change only the second group's channels
    h = attn.norm  # GroupNorm groups may straddle head groups; bypass it to test the projection alone
    attn.norm = torch.nn.Identity()
    out_x, out_y = attn(x), attn(y)
    attn.norm = h
    assert torch.allclose(out_x[:, :8], out_y[:, :8], atol=1e-6)  # group 0 never sees group 1
    glob = GlobalAttention(16, 8).eval()
    glob.proj_out, glob.norm = torch.nn.Identity(), torch.nn.Identity()
    assert not torch.allclose(glob(x)[:, :8], glob(y)[:, :8], atol=1e-4)  # the dense projection mixes them


@pytest.mark.parametrize(("saved", "wanted"), [("global", "local"), ("local", "global")])
def test_weights_of_one_kind_are_refused_by_the_other(saved: str, wanted: str) -> None:
    state = ADMUNet(16, attention=saved, **TINY).state_dict()
    assert attention_kind_of(state) == saved
    with pytest.raises(AugdiffError, match=f"{saved}-priority"):
        ADMUNet(16, attention=wanted, **TINY).load_state_dict(state)
    ADMUNet(16, attention=saved, **TINY).load_state_dict(state)  # the same kind loads strictly


def test_class_conditioning_and_learned_variance_outputs() -> None:
    model = ADMUNet(16, out_channels=6, num_classes=3, **TINY)
    out = model(torch.randn(2, 3, 16, 16), torch.tensor([0, 999]), y=torch.tensor([0, 2]))
    assert out.shape == (2, 6, 16, 16)
    with pytest.raises(AugdiffError, match="class-conditional"):
        model(torch.randn(2, 3, 16, 16), torch.tensor([0, 1]))


def test_bad_attention_kind_is_a_user_error() -> None:
    with pytest.raises(AugdiffError, match="attention"):
        ADMUNet(16, attention="hybrid", **TINY)


def _group_sizes(model: torch.nn.Module) -> set[int]:
    return {m.num_channels // m.num_groups for m in model.modules() if isinstance(m, torch.nn.GroupNorm)}


def test_one_channel_groups_cannot_see_a_per_image_colour_shift_and_the_default_groups_can() -> None:
    x, shift = torch.randn(2, 32, 8, 8), torch.randn(2, 32, 1, 1)  # shift: a per-image, per-channel offset
    instance_like = group_norm(32, min_channels_per_group=1)  # ADM's fixed 32 groups at width 32
    assert instance_like.num_groups == 32
    torch.testing.assert_close(instance_like(x + shift), instance_like(x), atol=1e-4, rtol=0)
    default = group_norm(32)
    assert default.num_groups == 8
    assert (default(x + shift) - default(x)).abs().max() > 0.1


def test_group_norm_keeps_adm_32_groups_at_adm_widths() -> None:
    assert [group_norm(c).num_groups for c in (16, 32, 64, 96, 128, 256)] == [4, 8, 16, 16, 32, 32]


def test_unets_keep_four_channels_per_group_and_old_configs_keep_their_norms() -> None:
    from augdiff_add.generator import PROFILES, AddGenerator

    assert min(_group_sizes(ADMUNet(16, **TINY))) >= 4
    config = dict(PROFILES["smoke"])
    assert min(_group_sizes(AddGenerator(config, ["a", "b"]).build_model("global"))) >= 4
    del config["norm_min_group_channels"]  # a config.json saved before the option existed
    assert min(_group_sizes(AddGenerator(config, ["a", "b"]).build_model("global"))) == 1  # ADM's 32 groups
