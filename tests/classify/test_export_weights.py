"""``augdiff classifier export-weights``: a timm checkpoint on disk made into a ``--pretrained`` file, offline."""

from __future__ import annotations

import json
import re

import pytest
import torch
from safetensors.torch import save_file
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import VisionTransformer

from augdiff.classify.export import export_weights
from augdiff.classify.models import PretrainedMismatchWarning, build_classifier
from augdiff.cli import app
from augdiff.errors import AugdiffError


def _tiny_timm_vit() -> VisionTransformer:
    """vit_micro's body (width 32, depth 2) as timm would ship it: 32 px, patch 8 (a 4x4 grid), 10 classes."""
    torch.manual_seed(0)
    return VisionTransformer(img_size=32, patch_size=8, num_classes=10, embed_dim=32, depth=2, num_heads=2,
                             mlp_ratio=2.0)


@pytest.fixture
def checkpoint(tmp_path):
    source = _tiny_timm_vit()
    state = source.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "model.safetensors"))
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "pytorch_model.pth")
    return source, tmp_path


@pytest.mark.parametrize("name", ["model.safetensors", "pytorch_model.pth"])
def test_export_resizes_the_grid_drops_the_head_and_loads_cleanly(checkpoint, name):
    source, folder = checkpoint
    out = folder / f"export-{name}.pt"
    result = export_weights("vit_micro", folder / name, out, 16)  # the smoke profile: patch 2, 8x8 tokens
    assert set(result.resized) == {"pos_embed", "patch_embed.proj.weight"}
    assert "1x17x32 -> 1x65x32, interpolated from a 4x4 to a 8x8 token grid" in result.resized["pos_embed"]
    assert set(result.dropped) == {"head.weight", "head.bias"} and "10x32 in the file" in result.dropped["head.weight"]
    assert result.written == len(source.state_dict()) - 2 and not result.unused
    written = torch.load(out, weights_only=True)
    assert "head.weight" not in written  # nothing freshly initialised is written as if pretrained
    # Loaded through --pretrained: every body tensor is the checkpoint's, only the head stays fresh.
    with pytest.warns(PretrainedMismatchWarning) as caught:
        model = build_classifier("vit_micro", 2, 16, out)
    messages = [str(w.message) for w in caught]
    assert messages == ["--pretrained " + out.name + ": not in file, kept fresh: 2 tensors: head.bias (classifier "
                        "head), head.weight (classifier head)"]
    torch.testing.assert_close(model.blocks[1].mlp.fc1.weight, source.blocks[1].mlp.fc1.weight)
    expected = resample_abs_pos_embed(source.pos_embed.detach(), new_size=[8, 8], num_prefix_tokens=1)
    torch.testing.assert_close(model.pos_embed.detach(), expected)
    assert model.patch_embed.proj.weight.shape == (32, 3, 2, 2)
    assert model.eval()(torch.zeros(1, 3, 16, 16)).shape == (1, 2)


def test_loading_the_raw_checkpoint_names_what_is_lost(checkpoint):
    _, folder = checkpoint
    with pytest.warns(PretrainedMismatchWarning) as caught:
        build_classifier("vit_micro", 2, 16, folder / "model.safetensors")  # safetensors read directly too
    lost = next(str(w.message) for w in caught if "kept fresh (shape differs)" in str(w.message))
    assert "pos_embed (position embedding) 1x17x32 in the file, 1x65x32 in the model" in lost
    assert "patch_embed.proj.weight (patch projection) 32x3x8x8 in the file, 32x3x2x2 in the model" in lost
    assert "head.weight (classifier head)" in lost and "augdiff classifier export-weights" in lost


def test_cli_writes_safetensors_and_reports_json(checkpoint, runner):
    _, folder = checkpoint
    out = folder / "exported.safetensors"
    args = ["classifier", "export-weights", "vit_micro", "--from", str(folder / "pytorch_model.pth"),
            "--out", str(out), "--size", "16"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "resized pos_embed: 1x17x32 -> 1x65x32" in result.output and "dropped head.weight" in result.output
    assert "--pretrained" in result.output and out.is_file()
    with pytest.warns(PretrainedMismatchWarning, match="head.weight"):  # only the head is left fresh
        build_classifier("vit_micro", 3, 16, out)  # a safetensors export is a --pretrained file
    payload = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert payload["written"] == payload["matched"] + 2 and payload["size"] == 16
    assert payload["fresh"] == ["head.bias (classifier head)", "head.weight (classifier head)"]


def test_bad_inputs_are_one_line_errors(checkpoint, runner):
    _, folder = checkpoint
    (folder / "notes.pth").write_text("not a checkpoint")
    torch.save(build_classifier("resnet10t", 2, 16).state_dict(), folder / "resnet.pth")
    cases = [
        (["vit_micro", "--from", str(folder / "missing.pth")], "--from .*missing.pth: no such file"),
        (["vit_micro", "--from", str(folder / "notes.pth")], "notes.pth: cannot be read as a PyTorch state dict"),
        (["vit_mini", "--from", str(folder / "model.safetensors")],  # width 96: nothing fits
         r"only 0 of the \d+ tensors of vit_mini at 16 px fit \(e.g. .*\); is it a checkpoint of vit_mini"),
        (["vit_micro", "--from", str(folder / "resnet.pth")], "only 0 of the .* tensors of vit_micro"),
        (["no_such_net", "--from", str(folder / "model.safetensors")], "--classifier no_such_net"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["classifier", "export-weights", *args, "--out", str(folder / "o.pt"),
                                     "--size", "16"])
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1 and re.search(message, result.output), result.output
    assert not (folder / "o.pt").exists()
    with pytest.raises(AugdiffError, match="is the --from file"):
        export_weights("vit_micro", folder / "model.safetensors", folder / "model.safetensors", 16)
