"""The shared trainer: learning, exact resume after SIGKILL, divergence handling, checkpoints, EMA, torchrun."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from _trainer_toy import TinyDenoiser, make_trainer
from torch import nn

from augdiff.diffusion import DiffusionLoss, make_schedule
from augdiff.errors import AugdiffError
from augdiff.training import TrainConfig
from augdiff.training.checkpoint import (
    capture_rng,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    restore_rng,
)
from augdiff.training.distributed import DistInfo
from augdiff.training.ema import EMA

SCRIPT = Path(__file__).resolve().parent / "_train_script.py"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    # Tiny models gain nothing from a second thread, and on a busy 2-core machine lose a lot to it.
    with one_thread():
        yield


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """The subprocesses run single-threaded; bitwise comparisons need the same here."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_script(workdir: Path, *args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(SCRIPT), str(workdir), *args], env=env, cwd=ROOT, **popen)


def assert_same_state(a: object, b: object, path: str = "") -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), path
        assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            assert_same_state(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


# -- learning -----------------------------------------------------------------------------------------------
def test_loss_falls_and_ema_tracks(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, steps=60, checkpoint_every=60, log_every=10, precision="bf16")
    result = trainer.fit()
    assert result.step == 60 and result.loss_steps == [10, 20, 30, 40, 50, 60]
    assert result.images_per_second > 0 and result.resumed_from is None
    assert np.mean(result.losses[-2:]) < 0.6 * result.losses[0], result.losses
    # EMA weights differ from the raw ones but follow them
    raw, ema = trainer.model.inp.weight.detach(), trainer.ema_model.inp.weight
    assert not torch.equal(raw, ema)
    assert float((raw - ema).abs().mean()) < float(raw.abs().mean())
    # the final checkpoint is the only one kept besides its predecessor, and a re-run is a no-op
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000060.pt"]
    again = make_trainer(tmp_path, steps=60, checkpoint_every=60, log_every=10, precision="bf16").fit()
    assert again.resumed_from == 60 and again.losses == result.losses and again.images_per_second == 0.0


# -- resume -------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sigkill_then_restart_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    killed = tmp_path / "killed"
    proc = run_script(killed, "--sleep", "0.15")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        latest = latest_checkpoint(killed)
        if latest is not None and latest.name >= "step-00000010.pt":
            break
        if proc.poll() is not None:
            pytest.fail(f"training exited early with code {proc.returncode}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    interrupted_at = load_checkpoint(latest_checkpoint(killed))["step"]
    assert 10 <= interrupted_at < 30
    assert len(list_checkpoints(killed)) <= 2

    proc = run_script(killed)
    assert proc.wait(timeout=180) == 0
    assert not list((killed / "checkpoints").glob("*.tmp"))

    reference = make_trainer(tmp_path / "reference")  # single-threaded, like the subprocess
    result = reference.fit()
    assert result.step == 30
    resumed = load_checkpoint(latest_checkpoint(killed))
    uninterrupted = load_checkpoint(latest_checkpoint(tmp_path / "reference"))
    assert resumed["step"] == uninterrupted["step"] == 30
    for key in ("model", "ema", "optimizer", "loss_history", "rng"):
        assert_same_state(resumed[key], uninterrupted[key], key)
    weights = torch.load(killed / "weights-rank0.pt", weights_only=True)
    assert_same_state(weights, {k: v for k, v in reference.model.state_dict().items()})


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    inner = DiffusionLoss(make_schedule("linear", 50))
    calls = {"n": 0}

    def loss_fn(model: nn.Module, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        calls["n"] += 1
        loss = inner(model, batch, generator)
        return loss * float("nan") if calls["n"] == 7 else loss

    trainer = make_trainer(tmp_path, loss_fn=loss_fn, steps=20, checkpoint_every=5, log_every=10)
    with pytest.raises(
        AugdiffError, match=r"loss is nan at step 7; the last good checkpoint .*step-00000005\.pt"
    ):
        trainer.fit()
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000005.pt"]
    state = load_checkpoint(tmp_path / "checkpoints" / "step-00000005.pt")
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "checkpoints").iterdir())


def test_nonfinite_weights_are_never_checkpointed(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, steps=4, checkpoint_every=2, log_every=2)
    trainer.fit()
    trainer.step = 6
    with torch.no_grad():
        trainer.model.out.bias.fill_(float("inf"))
    with pytest.raises(AugdiffError, match=r"weight 'out\.bias' is not finite at step 6"):
        trainer._save_checkpoint()
    assert latest_checkpoint(tmp_path).name == "step-00000004.pt"


# -- checkpoints, RNG, EMA, config ----------------------------------------------------------------------------
def test_checkpoint_holds_everything_and_loads_weights_only(tmp_path: Path) -> None:
    make_trainer(tmp_path, steps=5, checkpoint_every=5).fit()
    path = latest_checkpoint(tmp_path)
    state = torch.load(path, weights_only=True)
    assert {"model", "ema", "optimizer", "scaler", "rng", "config", "step", "epoch", "position"} <= set(state)
    assert state["step"] == 5 and state["config"]["steps"] == 5
    assert "norm.running_mean" in state["ema"]["model"]
    rng = state["rng"][0]
    assert {"python", "numpy", "torch", "cuda", "generator"} <= set(rng)
    # a bad file is a one-line error naming it
    bad = tmp_path / "checkpoints" / "step-00000099.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(AugdiffError, match=r"step-00000099\.pt: not a readable"):
        make_trainer(tmp_path, steps=200).fit()


def test_capture_and_restore_rng_replays_every_stream() -> None:
    g = torch.Generator().manual_seed(3)
    state = capture_rng(g)

    def draw() -> tuple:
        return (
            random.random(),
            float(np.random.rand()),
            float(torch.rand(())),
            float(torch.rand((), generator=g)),
        )

    first = draw()
    restore_rng(state, g)
    assert draw() == first


def test_ema_averages_float_buffers_and_copies_counters() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    ema = EMA(net, decay=0.5, warmup=False)
    with torch.no_grad():
        net[0].weight.add_(1.0)
    net(torch.randn(4, 1, 3, 3) + 5.0)  # moves BatchNorm's running statistics
    ema.update(net)
    torch.testing.assert_close(ema.model[1].running_mean, 0.5 * net[1].running_mean)
    torch.testing.assert_close(ema.model[0].weight, net[0].weight - 0.5)
    assert int(ema.model[1].num_batches_tracked) == 1
    warm = EMA(net, decay=0.999)
    assert warm.current_decay() == pytest.approx(0.1)
    assert not any(p.requires_grad for p in warm.model.parameters())


def test_data_order_is_a_function_of_seed_and_epoch_and_shards_disjointly(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, epochs=2, batch_size=8)
    assert trainer.batches_per_epoch == 4 and trainer.total_steps == 8
    e0, e1 = trainer._epoch_batches(0), trainer._epoch_batches(1)
    assert sorted(i for b in e0 for i in b) == list(range(32)) and e0 != e1
    assert make_trainer(tmp_path, epochs=2, batch_size=8)._epoch_batches(1) == e1
    assert make_trainer(tmp_path, seed=1, epochs=2, batch_size=8)._epoch_batches(1) != e1
    shards = []
    for rank in (0, 1):
        trainer.dist = DistInfo(rank=rank, world_size=2)
        trainer.rank_batch_size = 4
        shards.append({i for b in trainer._epoch_batches(0) for i in b})
    assert not shards[0] & shards[1] and len(shards[0] | shards[1]) == 32
    # a set smaller than one batch trains on all of it every step
    small = make_trainer(tmp_path / "small", epochs=3, batch_size=64)
    assert small.batches_per_epoch == 1 and small.total_steps == 3
    assert sorted(small._epoch_batches(2)[0]) == list(range(32))


def test_learning_rate_warms_up_then_follows_a_cosine(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, steps=110, lr=1.0, warmup_steps=10, lr_schedule="cosine")
    assert trainer._lr_at(0) == pytest.approx(0.1)
    assert trainer._lr_at(9) == pytest.approx(1.0)
    assert trainer._lr_at(60) == pytest.approx(0.5)
    assert trainer._lr_at(110) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"steps": 10, "epochs": 2}, "exactly one of 'steps' or 'epochs'"),
        ({"steps": 10, "precision": "fp8"}, "'precision'='fp8'"),
        ({"steps": 10, "optimizer": "sgd"}, "'optimizer'='sgd'"),
        ({"steps": 0}, "'steps'=0"),
    ],
)
def test_config_errors_name_the_option(settings: dict, message: str) -> None:
    with pytest.raises(AugdiffError, match=message):
        TrainConfig(**settings)


def test_config_round_trips_through_json_and_refuses_unknown_keys(tmp_path: Path) -> None:
    config = TrainConfig(steps=10, betas=[0.5, 0.9])
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(AugdiffError, match="unknown lr_decay"):
        TrainConfig.from_dict({"steps": 1, "lr_decay": 0.1})
    with pytest.raises(AugdiffError, match="fp16' needs a CUDA device"):
        make_trainer(tmp_path, precision="fp16", device="cpu")


def test_resume_refuses_a_different_data_set(tmp_path: Path) -> None:
    make_trainer(tmp_path, steps=5, checkpoint_every=5).fit()
    with pytest.raises(AugdiffError, match="batches_per_epoch=4, this run has 2"):
        make_trainer(tmp_path, steps=10, batch_size=16).fit()


# -- torchrun -----------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.dist
def test_two_process_gloo_torchrun_trains_and_writes_one_checkpoint(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    command += [str(SCRIPT), str(tmp_path), "--steps", "6", "--checkpoint-every", "100"]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    files = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert files == ["step-00000006.pt"]
    state = load_checkpoint(tmp_path / "checkpoints" / files[0])
    assert state["world_size"] == 2 and len(state["rng"]) == 2 and state["step"] == 6
    # DistributedDataParallel kept the ranks' weights identical, and they are the checkpoint's
    # (BatchNorm running statistics are per rank under DDP; rank 0's are saved and broadcast on the next forward)
    w0 = torch.load(tmp_path / "weights-rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "weights-rank1.pt", weights_only=True)
    params = {name for name, _ in TinyDenoiser().named_parameters()}
    assert_same_state({k: w0[k] for k in params}, {k: w1[k] for k in params})
    assert_same_state(w0, state["model"])
