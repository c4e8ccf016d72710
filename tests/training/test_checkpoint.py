"""save_modules / resume_modules: the checkpoint layout the GAN trainers write, and an exact round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from augdiff.training.checkpoint import list_checkpoints, load_checkpoint, resume_modules, save_modules
from augdiff.training.ema import EMA


def _modules(seed: int) -> dict[str, Any]:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    net(torch.randn(5, 3)).sum().backward()
    opt.step()
    return {"net": net, "ema": EMA(net, 0.5), "opt": opt}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def test_checkpoint_holds_step_extras_modules_and_rng_in_that_order(tmp_path: Path) -> None:
    rng = torch.Generator().manual_seed(1)
    for step in (2, 4, 6):
        path = save_modules(tmp_path, step, _modules(0), rng, images_seen=step * 8, alpha=0.5)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000004.pt", "step-00000006.pt"]  # keep=2
    state = load_checkpoint(path, announce=False)
    assert list(state) == ["step", "images_seen", "alpha", "net", "ema", "opt", "rng"]
    assert state["step"] == 6 and state["images_seen"] == 48 and state["alpha"] == 0.5


def test_resume_restores_every_state_and_the_rngs(tmp_path: Path) -> None:
    assert resume_modules(tmp_path, _modules(0), torch.Generator()) is None  # nothing saved yet

    saved, rng = _modules(0), torch.Generator().manual_seed(7)
    torch.randn(3, generator=rng)
    save_modules(tmp_path, 3, saved, rng)
    expected_next, expected_global = torch.randn(4, generator=rng), torch.randn(4)

    fresh, fresh_rng = _modules(1), torch.Generator()
    state = resume_modules(tmp_path, fresh, fresh_rng)
    assert state is not None and state["step"] == 3
    for key in ("net", "ema", "opt"):  # parameters, BatchNorm buffers, EMA weights and count, Adam moments
        assert _same(saved[key].state_dict(), fresh[key].state_dict()), key
    assert torch.equal(torch.randn(4, generator=fresh_rng), expected_next)
    assert torch.equal(torch.randn(4), expected_global)
