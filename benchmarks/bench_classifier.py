"""Training throughput of augdiff's downstream classifier against timm's stock ViT of the same dims.

Measures, at a classifier profile's recipe (model, batch size, image size, precision; ``--profile cpu`` by
default, read from :data:`augdiff.classify.train.CLASSIFIER_PROFILES`, nothing hard-coded):

- ours: images/s of the optimiser steps of :func:`augdiff.classify.train.train_classifier` itself
  (augmentation, uint8 → tensor, soft cross-entropy, gradient clipping, AdamW, LR schedule), timed per step
  from inside the loop through its progress reporter, so the model build and the final validation are not
  counted;
- reference: timm's ``VisionTransformer`` with the same width, depth, heads, patch and input size, built
  directly from timm and trained by a plain loop on one fixed batch (cross-entropy, AdamW; no augmentation, no
  clipping, no schedule, no validation);
- one validation pass (``predict`` plus the metrics, as the loop does every ``eval_every`` steps) on a
  validation split of the size synth-histo gives the benchmark (150 images per class);
- a breakdown of our step into its parts (augmentation, tensor conversion, forward + backward, clipping,
  optimiser);
- the achieved GFLOP/s of our step (FLOPs of one forward + backward counted by torch.utils.flop_counter) and
  the fraction of the matmul peak at the recipe's dtype, measured here as well (a large square ``torch.mm``).

Every figure is the median of ``--repeats`` repetitions; ours and the reference alternate. The images are
random uint8 pixels (the augmentation's cost barely depends on content, the model's not at all).

    python benchmarks/bench_classifier.py --threads 1                 # cpu profile: vit_mini, 32 px, batch 64
    python benchmarks/bench_classifier.py --profile smoke --steps 3 --json
    python benchmarks/bench_classifier.py --device cuda --profile paper --size 96
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from timm.optim import param_groups_weight_decay
from torch import nn
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

from augdiff.classify.catalog import SMALL_VITS, TOKEN_GRID, VIT_ARCHITECTURES
from augdiff.classify.metrics import classification_metrics
from augdiff.classify.models import build_classifier
from augdiff.classify.train import (
    CLASSIFIER_PROFILES,
    ClassifierConfig,
    copy_config,
    predict,
    soft_cross_entropy,
    train_classifier,
)
from augdiff.classify.transforms import augment_batch, to_tensor, train_transform
from augdiff.data.spec import Split
from augdiff.data.synth_histo import EVAL_PER_CLASS
from augdiff.devices import autocast, resolve_device

try:
    from augdiff.training.precision import classifier_precision
except ImportError:  # a tree from before the classifier's "auto" precision: the profile's value is used as is
    def classifier_precision(name: str, device: torch.device) -> str:
        return name

VAL_SHARE = 1 / 3  # synth-histo and pcam-mini split their evaluation images val:test = 1:2


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_rate(fn: Callable[[], None], per_call: float, iters: int, reps: int, warmup: int,
                device: torch.device) -> tuple[float, list[float]]:
    """Median over ``reps`` of ``per_call * iters / seconds`` (images/s, FLOP/s…)."""
    for _ in range(warmup):
        fn()
    sync(device)
    rates = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        sync(device)
        rates.append(per_call * iters / (time.perf_counter() - start))
    return statistics.median(rates), rates


def median_seconds(fn: Callable[[], Any], reps: int, warmup: int,
                   device: torch.device) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    sync(device)
    runs = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        sync(device)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), runs


# --- ours: the real training loop, timed from inside ------------------------------------------------------

@dataclass
class _StampTask:
    stamps: list[float] = field(default_factory=list)

    def advance(self, n: float = 1, **info: Any) -> None:
        self.stamps.append(time.perf_counter())  # after the step's loss.item(): a CUDA step has finished too


class StampReporter:
    """A progress reporter that records when each step of the loop ended."""

    def __init__(self) -> None:
        self.task_record = _StampTask()

    @contextlib.contextmanager
    def task(self, description: str, total: float | None) -> Iterator[_StampTask]:
        self.task_record = _StampTask()
        yield self.task_record


def time_ours(config: ClassifierConfig, build: Callable[[], nn.Module], images: np.ndarray, probs: np.ndarray,
              val: Split, args: argparse.Namespace, rep: int) -> tuple[float, nn.Module]:
    """Images/s of one ``train_classifier`` call's steps: ``warmup`` steps are dropped, and so is one step
    more at the end, whose time holds the final validation."""
    probe = copy_config(config, steps=args.warmup + args.steps + 1, eval_every=0)
    reporter = StampReporter()
    outcome = train_classifier(build, images, probs, val, probe, seed=rep, progress=reporter)
    stamps = reporter.task_record.stamps
    if args.warmup:
        window = stamps[args.warmup + args.steps - 1] - stamps[args.warmup - 1]
    else:  # the window can only start at the first step's end: one step shorter
        window = (stamps[args.steps - 1] - stamps[0]) * args.steps / (args.steps - 1)
    return config.batch_size * args.steps / window, outcome.model


def breakdown(config: ClassifierConfig, model: nn.Module, images: np.ndarray, probs: np.ndarray,
              args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    """Median milliseconds of each part of one of our steps, done the way ``_train`` does it."""
    transform = train_transform(0)
    optimizer = torch.optim.AdamW(param_groups_weight_decay(model, config.weight_decay), lr=config.lr)
    index = np.arange(config.batch_size)
    batch = augment_batch(transform, images[index])
    x, y = to_tensor(batch).to(device), torch.from_numpy(probs[index]).to(device)

    def fwd_bwd() -> None:
        with autocast(device, classifier_precision(config.precision, device)):
            logits = model(x)
        optimizer.zero_grad(set_to_none=True)
        soft_cross_entropy(logits, y).backward()

    fwd_bwd()
    parts: dict[str, Callable[[], Any]] = {
        "augment": lambda: augment_batch(transform, images[index]),
        "to_tensor": lambda: to_tensor(batch).to(device),
        "forward_backward": fwd_bwd,
        "clip_grad_norm": lambda: nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip),
        "optimizer_step": optimizer.step,
    }
    model.train()
    return {name: 1e3 * median_seconds(fn, args.repeats, args.warmup, device)[0]
            for name, fn in parts.items()}


# --- reference: timm's ViT, plain loop --------------------------------------------------------------------

def stock_vit(name: str, num_classes: int, image_size: int) -> nn.Module:
    """timm's VisionTransformer with the dims augdiff's catalog gives ``name``, patch = size // TOKEN_GRID."""
    patch = image_size // TOKEN_GRID
    if name in SMALL_VITS:
        from timm.models.vision_transformer import VisionTransformer

        return VisionTransformer(img_size=image_size, patch_size=patch, num_classes=num_classes,
                                 **SMALL_VITS[name])
    if name in VIT_ARCHITECTURES:
        import timm

        return timm.create_model(VIT_ARCHITECTURES[name], pretrained=False, num_classes=num_classes,
                                 img_size=image_size, patch_size=patch)
    raise SystemExit(f"classifier {name!r} is not one of the catalog's ViTs: no stock timm reference")


def reference_step(config: ClassifierConfig, num_classes: int, image_size: int,
                   device: torch.device) -> Callable[[], None]:
    torch.manual_seed(0)
    model = stock_vit(config.classifier, num_classes, image_size).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    x = torch.randn(config.batch_size, 3, image_size, image_size, device=device)
    y = torch.randint(0, num_classes, (config.batch_size,), device=device)

    def step() -> None:
        with autocast(device, classifier_precision(config.precision, device)):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


# --- FLOPs and peak ---------------------------------------------------------------------------------------

def _cpu_sdpa_flops(query: Any, key: Any, value: Any, *args: Any, **kwargs: Any) -> int:
    return flop_counter.sdpa_flop_count(query, key, value)


def _cpu_sdpa_backward_flops(grad_out: Any, query: Any, key: Any, value: Any, *args: Any,
                             **kwargs: Any) -> int:
    return flop_counter.sdpa_backward_flop_count(grad_out, query, key, value)


# torch's flop counter knows the CUDA attention kernels but not the CPU one timm's ViT runs on (fused_attn):
# without these a CPU count leaves attention out (10 % of vit_mini's FLOPs). The CUDA kernels' formulas.
_CPU_ATTENTION = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward_flops,
}


def train_flops(model: nn.Module, config: ClassifierConfig, image_size: int, device: torch.device) -> int:
    """FLOPs of one forward + backward of ``model`` at the recipe's batch."""
    x = torch.randn(config.batch_size, 3, image_size, image_size, device=device)
    counter = FlopCounterMode(display=False, custom_mapping=_CPU_ATTENTION)
    with counter, autocast(device, classifier_precision(config.precision, device)):
        model(x).float().logsumexp(dim=1).mean().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def matmul_peak(precision: str, n: int, reps: int, device: torch.device) -> float:
    """GFLOP/s of an n×n×n matmul at the recipe's dtype and threads (median of ``reps`` timed batches)."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    a, b = (torch.randn(n, n, dtype=dtype, device=device) for _ in range(2))
    rate, _ = median_rate(lambda: torch.mm(a, b), 2 * n**3 / 1e9, 5, reps, 2, device)
    return rate


# --- main -------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", choices=sorted(CLASSIFIER_PROFILES), default="cpu",
                   help="classifier recipe to measure (model, batch, image size, precision)")
    p.add_argument("--size", type=int, default=None, help="image size when the profile has none (paper)")
    p.add_argument("--classes", type=int, default=2)
    p.add_argument("--val-images", type=int, default=None,
                   help="validation split size [default: synth-histo's, 150 per class]")
    p.add_argument("--device", default="cpu", help="cpu, cuda, auto or any torch device name")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads [default: the profile's, else torch's default]")
    p.add_argument("--repeats", type=int, default=3, help="repetitions; the median is reported (≥ 3)")
    p.add_argument("--steps", type=int, default=5, help="timed optimiser steps per repetition")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before each repetition")
    p.add_argument("--matmul-n", type=int, default=None,
                   help="peak matmul size [default: 2048; 8192 on CUDA]")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.repeats < 3:
        p.error("--repeats must be ≥ 3 (the median of at least three repetitions is reported)")
    if args.steps < 2:
        p.error("--steps must be ≥ 2")

    profile = CLASSIFIER_PROFILES[args.profile]
    image_size = profile.image_size or args.size
    if image_size is None:
        p.error(f"profile {args.profile} trains at the dataset's size: give --size")
    threads = args.threads or profile.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    device = resolve_device(args.device)
    config = copy_config(profile, device=str(device), threads=threads)
    precision = classifier_precision(config.precision, device)  # what the loop's autocast resolves "auto" to
    matmul_n = args.matmul_n or (8192 if device.type == "cuda" else 2048)  # large enough to reach the peak

    rng = np.random.default_rng(0)
    n_train = 16 * config.batch_size
    images = rng.integers(0, 256, (n_train, image_size, image_size, 3), dtype=np.uint8)
    labels = rng.integers(0, args.classes, n_train)
    probs = np.eye(args.classes, dtype=np.float32)[labels]
    n_val = args.val_images or round(EVAL_PER_CLASS * VAL_SHARE) * args.classes
    val_labels = np.arange(n_val, dtype=np.int64) % args.classes
    val = Split(name="val", classes=[f"class{i}" for i in range(args.classes)], labels=val_labels,
                images=rng.integers(0, 256, (n_val, image_size, image_size, 3), dtype=np.uint8),
                ids=[str(i) for i in range(n_val)])

    def build() -> nn.Module:
        return build_classifier(config.classifier, args.classes, image_size)

    # Ours and the reference alternate, one repetition each, so a change in the machine's load hits both.
    ref_step = reference_step(config, args.classes, image_size, device)
    ours_runs, ref_runs = [], []
    for rep in range(args.repeats):
        rate, model = time_ours(config, build, images, probs, val, args, rep)
        ours_runs.append(rate)
        ref_runs.append(median_rate(ref_step, config.batch_size, args.steps, 1, args.warmup, device)[0])
    ours, ref = statistics.median(ours_runs), statistics.median(ref_runs)
    val_labels_t = torch.from_numpy(val_labels)
    val_s, val_runs = median_seconds(
        lambda: classification_metrics(predict(model, val.images, config), val_labels_t),
        args.repeats, 1, device)
    parts = breakdown(config, model, images, probs, args, device)
    flops = train_flops(model, config, image_size, device)
    peak = matmul_peak(precision, matmul_n, args.repeats, device)

    per_image = flops / config.batch_size
    achieved = per_image * ours / 1e9
    evals = (config.steps // config.eval_every if config.eval_every else 0) + 1
    recipe_s = config.steps * config.batch_size / ours + evals * val_s
    report = {
        "profile": args.profile, "classifier": config.classifier, "batch": config.batch_size,
        "size": image_size,
        "precision": precision, "device": str(device), "threads": threads,
        "repeats": args.repeats, "steps": args.steps, "warmup": args.warmup,
        "parameters": sum(p.numel() for p in model.parameters()),
        "ours_train_img_s": ours, "ours_runs": ours_runs,
        "reference_train_img_s": ref, "reference_runs": ref_runs,
        "train_ratio": ours / ref,
        "step_breakdown_ms": parts,
        "val_images": n_val, "val_pass_s": val_s, "val_runs": val_runs,
        "recipe_steps": config.steps, "recipe_val_passes": evals,
        "recipe_seconds": recipe_s, "recipe_val_share": evals * val_s / recipe_s,
        "train_gflop_per_image": per_image / 1e9, "train_gflop_s": achieved,
        "reference_gflop_s": per_image * ref / 1e9,
        "matmul_n": matmul_n, "matmul_peak_gflop_s": peak, "fraction_of_peak": achieved / peak,
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(f"{args.profile} profile: {config.classifier} ({report['parameters']:,} params), "
          f"batch {config.batch_size}, {image_size} px, {precision}, {device}, {threads} thread(s); "
          f"median of {args.repeats} × {args.steps} steps")
    print(f"{'':28}{'img/s':>9}{'GFLOP/s':>9}{'% peak':>8}")
    print(f"{'ours (train_classifier)':28}{ours:9.1f}{achieved:9.1f}{achieved / peak:8.0%}")
    print(f"{'timm ViT, plain loop':28}{ref:9.1f}{report['reference_gflop_s']:9.1f}"
          f"{report['reference_gflop_s'] / peak:8.0%}")
    print(f"training ratio ours/reference  {report['train_ratio']:.2f}x")
    print("our step, ms: " + ", ".join(f"{k} {v:.1f}" for k, v in parts.items()))
    print(f"validation pass ({n_val} images)  {val_s:.3f} s; the recipe's {config.steps} steps + {evals} "
          f"passes ≈ {recipe_s:.0f} s, validation {report['recipe_val_share']:.0%} of it")
    print(f"{per_image / 1e9:.3f} GFLOP per image (forward + backward); {precision} matmul peak "
          f"{peak:.1f} GFLOP/s (n={matmul_n})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
