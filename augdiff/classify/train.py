"""Train a classifier on a (possibly soft-labelled) training set for a fixed optimiser-step budget.

Every training set gets the same number of optimiser steps at the same batch size, whatever its size: in the ADD
paper's comparison a 5000-image set would otherwise win by getting ten times the compute of the 1000-image
baseline. The checkpoint kept is the one with the best accuracy on the *real* validation split (ties broken by
validation AUROC, then by the earlier step); the test split is never looked at during training.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from timm.optim import param_groups_weight_decay
from torch import nn

from augdiff.classify.metrics import classification_metrics
from augdiff.classify.mixing import BatchMix
from augdiff.classify.transforms import augment_batch, to_tensor, train_transform
from augdiff.data.spec import Split
from augdiff.devices import autocast, resolve_device
from augdiff.errors import AugdiffError
from augdiff.progress import NullReporter, Reporter
from augdiff.seeding import derive_seed, numpy_rng, torch_generator
from augdiff.training.precision import classifier_precision


@dataclass(frozen=True)
class ClassifierConfig:
    """The downstream training recipe; one per benchmark profile (JSON-able, part of every cell's key)."""

    classifier: str
    image_size: int | None  # None: the dataset's own size (after --crop)
    steps: int  # optimiser steps, identical for every training set
    batch_size: int
    lr: float
    weight_decay: float = 0.05
    warmup_steps: int = 0
    eval_every: int = 0  # validate every this many steps (and at the end); 0: only at the end
    eval_batch_size: int = 256
    grad_clip: float = 1.0
    # "auto": bf16 autocast where the device computes in bf16 (CUDA), else fp32; or "bf16"/"fp32" as asked
    precision: str = "auto"
    device: str = "auto"
    threads: int | None = None  # torch intra-op threads while training (None: torch's default)

    def to_dict(self) -> dict[str, Any]:
        """The recipe as it keys cells and folders: the device is where it trains, not what, so it is left at
        ``auto`` and cells made on a GPU are reused on the CPU (``asdict`` has the device in use)."""
        return {**asdict(self), "device": "auto"}


# Budgets: smoke is for CI (seconds per cell); cpu is sized for 2 CPU cores (see docs/benchmark.md for the
# measured cost); paper uses the paper's backbone (ViT-B) at the dataset's resolution — the paper gives no
# training hyper-parameters ("optimized in experiments"), so these are augdiff's choices.
# The CPU profiles train in fp32: on the 2-core reference machine (AVX-512 with bf16) torch 2.14 ran a bf16
# matmul at half the fp32 rate (24 vs 48 GFLOP/s per core) and a ViT-Ti step 2.5x slower under bf16 autocast.
# A micro model gains nothing from a second thread, and loses a lot when the cores are shared.
CLASSIFIER_PROFILES: dict[str, ClassifierConfig] = {
    "smoke": ClassifierConfig("vit_micro", 16, steps=30, batch_size=32, lr=1e-3, warmup_steps=5, eval_every=10,
                              eval_batch_size=512, precision="fp32", threads=1),
    "cpu": ClassifierConfig("vit_mini", 32, steps=300, batch_size=64, lr=1e-3, warmup_steps=30, eval_every=50,
                            precision="fp32"),
    "paper": ClassifierConfig("vit_base", None, steps=5000, batch_size=64, lr=1e-4, warmup_steps=500,
                              eval_every=250),
}


def soft_cross_entropy(logits: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of −Σ_c p_c log softmax(z)_c; equals ordinary cross-entropy for one-hot ``p``."""
    return -(target_probs * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


def cosine_with_warmup(step: int, total: int, warmup: int) -> float:
    """LR multiplier: linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray, config: ClassifierConfig) -> torch.Tensor:
    """Softmax probabilities (N, C) on CPU for uint8 NHWC ``images``."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(images), config.eval_batch_size):
        x = to_tensor(images[start:start + config.eval_batch_size]).to(device)
        with autocast(device, classifier_precision(config.precision, device)):
            logits = model(x)
        out.append(F.softmax(logits.float(), dim=1).cpu())
    model.train(was_training)
    return torch.cat(out)


def evaluate(model: nn.Module, split: Split, config: ClassifierConfig) -> dict[str, float]:
    with _threads(config.threads):
        probs = predict(model, split.images, config)
    return classification_metrics(probs, torch.from_numpy(np.asarray(split.labels, dtype=np.int64)))


@dataclass
class TrainOutcome:
    model: nn.Module  # with the selected (best-validation) weights loaded
    optimizer_steps: int  # counted by a hook on the optimiser, not by the loop
    samples_seen: int
    best_step: int
    val: dict[str, float]  # validation metrics of the selected checkpoint
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def _batches(
    n: int, batch_size: int, steps: int, seed: int, *, real: np.ndarray | None = None, synthetic_prob: float = 0.0
) -> list[np.ndarray]:
    """Index batches for ``steps`` steps; the number of batches never depends on ``n``.

    Without ``synthetic_prob`` (the *steps* budget) every image is drawn alike: consecutive seeded permutations,
    so each is seen once per epoch. With it (the *epochs* budget, as in DA-Fusion and Diff-Mix) the permutations
    run over the real images only (``real`` marks them; the same order a real-only set gets from this seed), and
    each drawn real image is replaced with probability ``synthetic_prob`` by a uniformly drawn generated one:
    every set makes the same passes over the real data and every real image keeps its share.
    """
    rng = numpy_rng(seed, "order")
    needed = steps * batch_size
    pool = np.arange(n) if real is None or not synthetic_prob else np.flatnonzero(real)
    order = np.concatenate([pool[rng.permutation(len(pool))] for _ in range(-(-needed // len(pool)))])[:needed]
    generated = np.flatnonzero(~real) if real is not None else np.empty(0, dtype=np.int64)
    if synthetic_prob and len(generated):
        swap_rng = numpy_rng(seed, "synthetic-replacement")
        swap = swap_rng.random(needed) < synthetic_prob
        order[swap] = generated[swap_rng.integers(0, len(generated), int(swap.sum()))]
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(steps)]


@dataclass(frozen=True)
class TrainingExtras:
    """What a classifier-side baseline adds to the training loop (``augdiff/classify``: mixing, randaugment,
    stain): a second per-image augmentation after the base flips/rotations, and/or a batch-level mix."""

    augment: Callable[[int], Any] | None = None  # seed → albumentations pipeline (uint8 HWC in and out)
    batch_mix: BatchMix | None = None


def train_classifier(
    build_model: Callable[[], nn.Module],
    images: np.ndarray,
    probs: np.ndarray,
    val: Split,
    config: ClassifierConfig,
    *,
    seed: int,
    real: np.ndarray | None = None,
    synthetic_prob: float = 0.0,
    extras: TrainingExtras | None = None,
    progress: Reporter = NullReporter(),
    description: str = "train",
) -> TrainOutcome:
    """Build (seeded), train for exactly ``config.steps`` optimiser steps on soft targets, keep the best val.

    ``real`` (a boolean mask) and ``synthetic_prob`` select the epochs budget (see :func:`_batches`); ``extras``
    adds a classifier-side baseline's augmentation or batch mix.
    """
    if len(images) == 0:
        raise AugdiffError("the training set is empty: check --sets and the generated sets")
    if len(images) != len(probs):
        raise ValueError("one probability vector per image is required")
    if not 0.0 <= synthetic_prob < 1.0:
        raise AugdiffError(f"--synthetic-prob {synthetic_prob}: must be in [0, 1)")
    if synthetic_prob and (real is None or not np.any(real)):
        raise AugdiffError("--budget epochs: this training set has no real images to make passes over")
    batches = _batches(len(images), config.batch_size, config.steps, seed,
                       real=None if real is None else np.asarray(real, dtype=bool), synthetic_prob=synthetic_prob)
    with _threads(config.threads):
        return _train(build_model, images, probs, val, config, batches, seed=seed, progress=progress,
                      description=description, extras=extras or TrainingExtras())


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    previous = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _train(
    build_model: Callable[[], nn.Module],
    images: np.ndarray,
    probs: np.ndarray,
    val: Split,
    config: ClassifierConfig,
    batches: list[np.ndarray],
    *,
    seed: int,
    progress: Reporter,
    description: str,
    extras: TrainingExtras,
) -> TrainOutcome:
    t0 = time.perf_counter()
    device = resolve_device(config.device)
    torch.manual_seed(derive_seed(seed, "init"))
    model = build_model().to(device)
    optimizer = torch.optim.AdamW(param_groups_weight_decay(model, config.weight_decay), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: cosine_with_warmup(s, config.steps, config.warmup_steps)
    )
    counter = {"steps": 0}
    optimizer.register_step_post_hook(lambda *_: counter.__setitem__("steps", counter["steps"] + 1))
    transform = train_transform(derive_seed(seed, "augment") % (1 << 32))
    extra = extras.augment(derive_seed(seed, "extra-augment")) if extras.augment else None
    mix_generator = torch_generator(seed, "batch-mix")
    targets = torch.from_numpy(np.asarray(probs, dtype=np.float32))
    val_labels = torch.from_numpy(np.asarray(val.labels, dtype=np.int64))

    best: tuple[tuple[float, float], int, dict[str, float], dict[str, torch.Tensor]] | None = None
    history: list[dict[str, float]] = []
    running, since, seen = 0.0, 0, 0
    model.train()
    with progress.task(description, config.steps) as task:
        for step, index in enumerate(batches, start=1):
            batch = augment_batch(transform, images[index])
            if extra is not None:
                batch = augment_batch(extra, batch)
            x, y = to_tensor(batch), targets[index]
            if extras.batch_mix is not None:  # on the CPU, so a seed mixes alike on every device
                x, y = extras.batch_mix.apply(x, y, mix_generator)
            x, y = x.to(device), y.to(device)
            with autocast(device, classifier_precision(config.precision, device)):
                logits = model(x)
            loss = soft_cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            running, since, seen = running + float(loss.detach()), since + 1, seen + len(index)
            last = step == config.steps
            if last or (config.eval_every and step % config.eval_every == 0):
                metrics = classification_metrics(predict(model, val.images, config), val_labels)
                history.append({"step": step, "train_loss": running / since, **metrics})
                running, since = 0.0, 0
                key = (metrics["accuracy"], metrics["auroc"])
                if best is None or key > best[0]:
                    state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                    best = (key, step, metrics, state)
            task.advance(1, loss=float(loss.detach()))
    assert best is not None
    model.load_state_dict(best[3])
    return TrainOutcome(model, counter["steps"], seen, best[1], best[2], history, time.perf_counter() - t0)


def copy_config(config: ClassifierConfig, **changes: Any) -> ClassifierConfig:
    values = asdict(config)
    unknown = set(changes) - set(values)
    if unknown:
        raise AugdiffError(f"unknown classifier option(s): {', '.join(sorted(unknown))}")
    values.update({k: v for k, v in changes.items() if v is not None})
    return ClassifierConfig(**values)
