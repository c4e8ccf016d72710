"""Classifier models, the soft-target loss, the fixed step budget, metrics and --pretrained handling."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from augdiff.classify.metrics import classification_metrics
from augdiff.classify.models import PretrainedMismatchWarning, build_classifier, load_pretrained
from augdiff.classify.train import (
    CLASSIFIER_PROFILES,
    copy_config,
    cosine_with_warmup,
    evaluate,
    soft_cross_entropy,
    train_classifier,
)
from augdiff.data.spec import Split
from augdiff.errors import AugdiffError


def _split(name: str, per_class: int, size: int, seed: int) -> Split:
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], per_class)
    base = np.where(labels == 1, 170, 80)[:, None, None, None]
    images = np.clip(base + rng.normal(0, 25, (len(labels), size, size, 3)), 0, 255).astype(np.uint8)
    return Split(name, ["normal", "tumor"], images, labels, [str(i) for i in range(len(labels))])


def test_soft_cross_entropy_equals_cross_entropy_on_one_hot_targets():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 3, generator=g)
    labels = torch.randint(0, 3, (16,), generator=g)
    one_hot = F.one_hot(labels, 3).float()
    assert soft_cross_entropy(logits, one_hot).item() == pytest.approx(F.cross_entropy(logits, labels).item(),
                                                                     rel=1e-6)
    soft = torch.tensor([[0.3, 0.7, 0.0]]).repeat(16, 1)
    by_hand = -(0.3 * F.log_softmax(logits, 1)[:, 0] + 0.7 * F.log_softmax(logits, 1)[:, 1]).mean()
    assert soft_cross_entropy(logits, soft).item() == pytest.approx(by_hand.item(), rel=1e-6)


def test_named_vits_get_an_8x8_token_grid():
    tiny = build_classifier("vit_tiny", 2, 32)
    assert tiny.patch_embed.patch_size == (4, 4) and tiny.patch_embed.grid_size == (8, 8)
    assert tiny.embed_dim == 192 and len(tiny.blocks) == 12
    micro = build_classifier("vit_micro", 3, 16)
    assert micro.patch_embed.patch_size == (2, 2)
    assert micro(torch.zeros(2, 3, 16, 16)).shape == (2, 3)
    with pytest.raises(AugdiffError, match="divisible by 8"):
        build_classifier("vit_micro", 2, 12)


def test_any_timm_name_and_unknown_names():
    model = build_classifier("resnet10t", 2, 16)
    assert model.eval()(torch.zeros(1, 3, 16, 16)).shape == (1, 2)
    with pytest.raises(AugdiffError, match="neither a registered classifier nor a timm model"):
        build_classifier("no_such_net", 2, 16)


def test_pretrained_loads_matching_tensors_and_reports_the_rest(tmp_path):
    source = build_classifier("vit_micro", 2, 16)
    torch.save(source.state_dict(), tmp_path / "w.pt")
    with pytest.warns(PretrainedMismatchWarning, match="head.weight"):
        target = build_classifier("vit_micro", 5, 16, tmp_path / "w.pt")  # new head: 5 classes
    torch.testing.assert_close(target.blocks[0].attn.qkv.weight, source.blocks[0].attn.qkv.weight)
    assert target.head.weight.shape == (5, 32)
    (tmp_path / "bad.pt").write_text("not a checkpoint")
    with pytest.raises(AugdiffError, match="cannot be read as a PyTorch state dict"):
        build_classifier("vit_micro", 2, 16, tmp_path / "bad.pt")
    with pytest.raises(AugdiffError, match="no such file"):
        build_classifier("vit_micro", 2, 16, tmp_path / "missing.pt")
    torch.save({"other.weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(AugdiffError, match="none of its 1 tensors"):
        load_pretrained(source, tmp_path / "other.pt")


def test_metrics_match_a_hand_count():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.4, 0.6]])
    target = torch.tensor([0, 1, 1, 0, 1])
    m = classification_metrics(probs, target)
    # preds 0,1,0,1,1: TP(1)=2, FP=1, FN=1 → F1(1)=2/3; class 0: TP=1, FP=1, FN=1 → 1/2.
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert m["auroc"] == pytest.approx(4 / 6)  # 4 of the 6 (positive, negative) pairs ranked correctly


def test_schedule_warms_up_then_decays_to_zero():
    values = [cosine_with_warmup(s, 100, 10) for s in range(100)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert values[10] == pytest.approx(1.0) and values[-1] < 0.01
    assert all(a >= b for a, b in itertools.pairwise(values[10:]))


def test_step_budget_is_identical_for_small_and_large_sets():
    config = copy_config(CLASSIFIER_PROFILES["smoke"], steps=6, eval_every=3, warmup_steps=1)
    val = _split("val", 8, 16, 2)
    outcomes = []
    for per_class in (10, 200):  # 20 vs 400 images: 20x the data, same compute
        train = _split("train", per_class, 16, 1)
        probs = np.eye(2, dtype=np.float32)[train.labels]
        outcomes.append(train_classifier(lambda: build_classifier("vit_micro", 2, 16), train.images, probs, val,
                                         config, seed=0))
    assert [o.optimizer_steps for o in outcomes] == [6, 6]
    assert [o.samples_seen for o in outcomes] == [6 * config.batch_size] * 2
    assert [h["step"] for h in outcomes[0].history] == [3, 6]


def test_training_learns_a_separable_task_and_is_reproducible():
    config = CLASSIFIER_PROFILES["smoke"]
    train, val, test = _split("train", 40, 16, 1), _split("val", 20, 16, 2), _split("test", 20, 16, 3)
    probs = np.eye(2, dtype=np.float32)[train.labels]
    runs = [train_classifier(lambda: build_classifier("vit_micro", 2, 16), train.images, probs, val, config,
                             seed=5) for _ in range(2)]
    metrics = [evaluate(r.model, test, config) for r in runs]
    assert metrics[0]["accuracy"] >= 0.9
    assert metrics[0] == metrics[1] and runs[0].best_step == runs[1].best_step
    assert runs[0].val["accuracy"] == max(h["accuracy"] for h in runs[0].history)
