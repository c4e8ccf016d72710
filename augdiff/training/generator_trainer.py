"""The generator trainer, shared by the diffusion generators: AdamW, EMA, mixed precision, clipping, checkpoints,
resume, DDP. (The downstream classifier trains with its own loop, :mod:`augdiff.classify.train`.)

Resume guarantee: a run killed at any moment (even SIGKILL) and started again with the same arguments ends with
the same weights as a run that was never interrupted. This holds because everything that decides the next step is
either a function of ``(seed, step)`` or stored in the checkpoint:

- the data order of epoch e is a permutation drawn from ``derive_seed(seed, "shuffle", e)``; a resumed run
  recomputes it and skips the batches already consumed (one batch per optimiser step, so the position in the
  epoch is ``step mod batches_per_epoch``);
- the trainer's own ``torch.Generator`` (given to ``loss_fn`` for t and ε) and the global Python / NumPy / torch
  RNGs (dropout, flips) are saved per rank and restored;
- the model, the EMA, the optimiser and the gradient scaler states are saved; the learning rate is a function of
  the step.

Exactness needs ``num_workers = 0`` (worker processes reseed themselves) and the same device, thread count and
number of processes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from augdiff.devices import device_type, resolve_device
from augdiff.errors import AugdiffError
from augdiff.progress import NullReporter, Reporter
from augdiff.seeding import derive_seed, seed_everything
from augdiff.training import distributed
from augdiff.training.checkpoint import (
    capture_rng,
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    remove_stale_temporaries,
    restore_rng,
    save_checkpoint,
)
from augdiff.training.config import TrainConfig
from augdiff.training.ema import EMA
from augdiff.training.precision import resolve_precision

CHECKPOINT_FORMAT = 1
LossOutput = Tensor | tuple[Tensor, dict[str, float]]
LossFn = Callable[[nn.Module, Any, torch.Generator], LossOutput]


@dataclass
class TrainResult:
    step: int  # optimiser steps done in total (including those before a resume)
    epoch: float  # step / batches_per_epoch
    losses: list[float]  # mean loss over each logging interval (all ranks)
    loss_steps: list[int]  # the step at the end of each interval
    images_per_second: float  # in this call, all ranks together (0 when nothing was left to train)
    seconds: float
    resumed_from: int | None  # the step of the checkpoint this call started from
    checkpoint: Path | None  # the checkpoint written at the last step
    logs: list[dict[str, float]] = field(default_factory=list)  # interval means of loss_fn's extra values


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def _batch_len(batch: Any) -> int:
    if isinstance(batch, Tensor):
        return int(batch.shape[0])
    if isinstance(batch, (list, tuple)) and batch:
        return _batch_len(batch[0])
    if isinstance(batch, dict) and batch:
        return _batch_len(next(iter(batch.values())))
    return 0


class Trainer:
    """Train ``model`` by minimising ``loss_fn(model, batch, generator)`` over ``dataset``.

    ``loss_fn`` receives the model to call (wrapped in DistributedDataParallel under torchrun: call it, do not
    reach into its attributes), a batch as the DataLoader yields it, already on the training device, and the
    trainer's ``torch.Generator`` (on the training device) for every random draw it makes. It returns the loss,
    or ``(loss, {name: value})`` for extra values to log.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        dataset: Dataset,
        config: TrainConfig,
        workdir: str | Path,
        *,
        seed: int = 0,
        progress: Reporter = NullReporter(),
    ) -> None:
        config.validate()
        self.config, self.loss_fn, self.dataset = config, loss_fn, dataset
        self.workdir, self.seed, self.progress = Path(workdir), int(seed), progress
        self.dist = distributed.setup(device_type(config.device))  # cuda:1 is CUDA too
        self.device = resolve_device(config.device, self.dist.local_rank)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.precision = resolve_precision(config.precision, self.device)

        self.model = model.to(self.device)
        self.train_model: nn.Module = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = DistributedDataParallel(self.model, device_ids=ids)
        self.ema = EMA(self.model, config.ema_decay, warmup=config.ema_warmup)
        self.optimizer = self._make_optimizer()
        self.scaler = torch.amp.GradScaler("cuda") if self.precision.uses_scaler else None
        self.generator = torch.Generator(device=self.device)

        self.dataset_size = len(dataset)  # type: ignore[arg-type]
        if self.dataset_size == 0:
            raise AugdiffError("training data is empty: no images to train on")
        if config.batch_size % self.dist.world_size:
            raise AugdiffError(
                f"training option 'batch_size'={config.batch_size} is not divisible by the "
                f"{self.dist.world_size} torchrun processes"
            )
        self.rank_batch_size = config.batch_size // self.dist.world_size
        self.batches_per_epoch = len(self._epoch_batches(0))
        self.total_steps = (
            config.steps if config.steps is not None else config.epochs * self.batches_per_epoch
        )
        self.step = 0
        self.loss_history: list[float] = []
        self.loss_steps: list[int] = []
        self.log_history: list[dict[str, float]] = []

    # -- public ------------------------------------------------------------------------------------------------
    @property
    def ema_model(self) -> nn.Module:
        """The EMA weights (eval mode): sample from this."""
        return self.ema.model

    def fit(self) -> TrainResult:
        """Train until the budget is spent, resuming from the latest checkpoint in ``workdir``."""
        resumed_from = self._resume()
        start_step, started = self.step, time.perf_counter()
        last_checkpoint = checkpoint_path(self.workdir, self.step) if resumed_from is not None else None
        pending: list[Tensor] = []
        pending_logs: list[dict[str, float]] = []
        images = 0
        reporter = self.progress if self.dist.is_main else NullReporter()
        with reporter.task("training", self.total_steps) as task:
            if self.step:
                task.advance(self.step)
            while self.step < self.total_steps:
                epoch, position = divmod(self.step, self.batches_per_epoch)
                for batch in self._loader(epoch, position):
                    loss, logs = self._train_step(batch)
                    images += _batch_len(batch) * self.dist.world_size
                    pending.append(loss)
                    pending_logs.append(logs)
                    self.step += 1
                    due = self.step % self.config.checkpoint_every == 0 or self.step == self.total_steps
                    if due or self.step % self.config.log_every == 0:
                        self._flush(pending, pending_logs, last_checkpoint)
                        pending, pending_logs = [], []
                    if due:
                        last_checkpoint = self._save_checkpoint()
                    rate = images / max(time.perf_counter() - started, 1e-9)
                    info = {"loss": self.loss_history[-1]} if self.loss_history else {}
                    task.advance(1, **info, **{"img/s": rate})
                    if self.step >= self.total_steps:
                        break
        seconds = time.perf_counter() - started
        return TrainResult(
            step=self.step,
            epoch=self.step / self.batches_per_epoch,
            losses=list(self.loss_history),
            loss_steps=list(self.loss_steps),
            images_per_second=images / seconds if self.step > start_step else 0.0,
            seconds=seconds,
            resumed_from=resumed_from,
            checkpoint=last_checkpoint,
            logs=list(self.log_history),
        )

    # -- setup -------------------------------------------------------------------------------------------------
    def _make_optimizer(self) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        c = self.config
        kind = torch.optim.AdamW if c.optimizer == "adamw" else torch.optim.Adam
        return kind(params, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay)

    def _lr_at(self, step: int) -> float:
        """Linear warm-up over ``warmup_steps``, then constant or cosine decay to 0 at the end of the budget."""
        c = self.config
        if c.warmup_steps and step < c.warmup_steps:
            return c.lr * (step + 1) / c.warmup_steps
        if c.lr_schedule == "constant":
            return c.lr
        span = max(self.total_steps - c.warmup_steps, 1)
        done = min(max(step - c.warmup_steps, 0) / span, 1.0)
        return c.lr * 0.5 * (1.0 + math.cos(math.pi * done))

    # -- data order: a pure function of (seed, epoch) ---------------------------------------------------------
    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        """This rank's batches of epoch ``epoch``: a seeded permutation, padded to a multiple of the world size
        and dealt out round-robin (as DistributedSampler does), cut into full batches."""
        n, world = self.dataset_size, self.dist.world_size
        g = torch.Generator().manual_seed(derive_seed(self.seed, "shuffle", epoch))
        order = torch.randperm(n, generator=g).tolist()
        padded = math.ceil(n / world) * world
        order = (order * math.ceil(padded / n))[:padded]
        mine = order[self.dist.rank :: world]
        size = min(self.rank_batch_size, len(mine))  # a set smaller than a batch trains on all of it
        return [mine[i * size : (i + 1) * size] for i in range(len(mine) // size)]

    def _loader(self, epoch: int, position: int) -> DataLoader:
        batches = self._epoch_batches(epoch)[position:]
        # The loader draws a base seed when iterated; give it its own generator so that draw never moves the
        # global RNG (which a resumed run restores from the checkpoint).
        g = torch.Generator().manual_seed(derive_seed(self.seed, "loader", epoch, self.dist.rank))
        return DataLoader(
            self.dataset,
            batch_sampler=batches,
            num_workers=self.config.num_workers,
            pin_memory=self.device.type == "cuda",
            generator=g,
        )

    # -- one step --------------------------------------------------------------------------------------------
    def _train_step(self, batch: Any) -> tuple[Tensor, dict[str, float]]:
        batch = _to_device(batch, self.device)
        self.train_model.train()
        with self.precision.autocast():
            result = self.loss_fn(self.train_model, batch, self.generator)
        loss, logs = result if isinstance(result, tuple) else (result, {})
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr_at(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        clip = self.config.grad_clip
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if clip:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), clip, foreach=True)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(self.model.parameters(), clip, foreach=True)
            self.optimizer.step()
        self.ema.update(self.model)
        return loss.detach().float(), {k: float(v) for k, v in logs.items()}

    def _flush(
        self, losses: list[Tensor], logs: list[dict[str, float]], last_checkpoint: Path | None
    ) -> None:
        """Average the interval's losses over ranks, record them, and stop on the first non-finite one."""
        if not losses:
            return
        values = distributed.all_mean(self.dist, torch.stack(losses)).cpu()
        finite = torch.isfinite(values)
        if not bool(finite.all()):
            bad = int((~finite).nonzero()[0])
            step = self.step - len(losses) + bad + 1
            kept = (
                f"the last good checkpoint {last_checkpoint} is kept" if last_checkpoint else "no checkpoint"
            )
            raise AugdiffError(
                f"training diverged: loss is {values[bad].item()} at step {step}; {kept}. Lower 'lr', set "
                "'grad_clip' or use precision 'fp32'"
            )
        self.loss_history.append(float(values.mean()))
        self.loss_steps.append(self.step)
        keys = sorted({k for d in logs for k in d})
        if keys:
            self.log_history.append({k: sum(d.get(k, 0.0) for d in logs) / len(logs) for k in keys})

    # -- checkpoints -------------------------------------------------------------------------------------------
    def _save_checkpoint(self) -> Path:
        path = checkpoint_path(self.workdir, self.step)
        for name, tensor in self.model.state_dict().items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise AugdiffError(
                    f"training diverged: weight '{name}' is not finite at step {self.step}; the last good "
                    "checkpoint is kept. Lower 'lr', set 'grad_clip' or use precision 'fp32'"
                )
        rng = distributed.gather_objects(self.dist, capture_rng(self.generator))  # every rank's RNG states
        if self.dist.is_main:
            state = {
                "format": CHECKPOINT_FORMAT,
                "step": self.step,
                "epoch": self.step // self.batches_per_epoch,
                "position": self.step % self.batches_per_epoch,
                "batches_per_epoch": self.batches_per_epoch,
                "dataset_size": self.dataset_size,
                "world_size": self.dist.world_size,
                "seed": self.seed,
                "config": self.config.to_dict(),
                "model": self.model.state_dict(),
                "ema": self.ema.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else {},
                "rng": rng,
                "loss_history": list(self.loss_history),
                "loss_steps": list(self.loss_steps),
                "log_history": list(self.log_history),
            }
            save_checkpoint(path, state)
            prune_checkpoints(self.workdir, self.config.keep_checkpoints)
        distributed.barrier(self.dist)
        return path

    def _resume(self) -> int | None:
        """Load the latest checkpoint (and return its step), or seed a fresh run (and return None)."""
        found = None
        if self.dist.is_main:
            remove_stale_temporaries(self.workdir)
            found = latest_checkpoint(self.workdir)
        found = distributed.broadcast_object(self.dist, None if found is None else str(found))
        if found is None:
            seed_everything(derive_seed(self.seed, "global", self.dist.rank) % (1 << 32))
            self.generator.manual_seed(derive_seed(self.seed, "trainer", self.dist.rank))
            return None
        state = load_checkpoint(found)  # on the CPU: RNG states must be CPU tensors
        self._check_compatible(Path(found), state)
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        rng = state["rng"]
        restore_rng(rng[self.dist.rank], self.generator)
        self.step = int(state["step"])
        self.loss_history = list(state["loss_history"])
        self.loss_steps = list(state["loss_steps"])
        self.log_history = list(state.get("log_history", []))
        return self.step

    def _check_compatible(self, path: Path, state: dict[str, Any]) -> None:
        """The data order only replays when the set, the batch and the process count are those of the run."""
        if state.get("format") != CHECKPOINT_FORMAT:
            raise AugdiffError(f"{path}: checkpoint format {state.get('format')} is not {CHECKPOINT_FORMAT}")
        expected = {
            "dataset_size": self.dataset_size,
            "batches_per_epoch": self.batches_per_epoch,
            "world_size": self.dist.world_size,
            "seed": self.seed,
        }
        for key, value in expected.items():
            if state[key] != value:
                raise AugdiffError(
                    f"{path}: written with {key}={state[key]}, this run has {value}; resume with the same data, "
                    "batch size, seed and process count, or use a fresh work directory"
                )
