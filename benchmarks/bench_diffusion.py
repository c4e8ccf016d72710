"""Throughput of the DDPM-PCam U-Net against diffusers' UNet2DModel of matched size, in one run.

Measures, for both networks at the same batch, precision and thread count:

- training img/s: forward + MSE loss on ε + backward + Adam step (what the Trainer does per batch);
- sampling img/s: network evaluations per second in eval mode without gradients (one denoising step; a full
  ancestral sample costs T of them, a DDIM sample K);

and, for ours, the achieved GFLOP/s of a training step (FLOPs counted by torch.utils.flop_counter) against the
matmul peak of the run's precision and, always, a bf16 matmul peak, both measured here as well (the target is
stated against the bf16 peak; on CPUs without AMX bf16 matmul is slower than fp32, so both fractions are printed).
Every figure is the median of ``--reps`` repetitions.

The reference is UNet2DModel with plain ResNet down/up blocks (no attention, like ours by default) and a width
chosen so its parameter count is within ±10 % of ours; it is timed in NCHW and in channels_last and the faster
of the two is the reference. Needs the ``bench`` extra (diffusers).

    python benchmarks/bench_diffusion.py                       # cpu profile's widths, 32 px, batch 32, bf16
    python benchmarks/bench_diffusion.py --precision fp32 --reps 5
    python benchmarks/bench_diffusion.py --widths 64 128 256 512 1024 --time-dim 512 --batch 64   # paper model
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from augdiff_ddpm_pcam.unet import PaperUNet, count_parameters
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from augdiff.devices import autocast

TOLERANCE = 0.10  # parameter counts must match within ±10 %


@dataclass
class Timing:
    train_img_s: float
    sample_img_s: float
    train_runs: list[float]
    sample_runs: list[float]


def median_rate(fn: Callable[[], None], images: int, iters: int, reps: int, warmup: int) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    rates = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        rates.append(images * iters / (time.perf_counter() - start))
    return statistics.median(rates), rates


def time_model(
    model: nn.Module, call: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor], args: argparse.Namespace,
    channels_last: bool,
) -> Timing:
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = torch.randn(args.batch, 3, args.size, args.size).contiguous(memory_format=fmt)
    noise = torch.randn_like(x)
    t = torch.randint(0, 1000, (args.batch,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def train_step() -> None:
        with autocast("cpu", args.precision):
            out = call(model, x, t)
        loss = nn.functional.mse_loss(out.float(), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sample_step() -> None:
        with torch.no_grad(), autocast("cpu", args.precision):
            call(model, x, t)

    model.train()
    train, train_runs = median_rate(train_step, args.batch, args.iters, args.reps, args.warmup)
    model.eval()
    sample, sample_runs = median_rate(sample_step, args.batch, args.iters, args.reps, args.warmup)
    return Timing(train, sample, train_runs, sample_runs)


def train_flops(model: nn.Module, call: Callable, args: argparse.Namespace) -> int:
    """FLOPs of one training step (forward + backward) of ``model`` at the benchmark's batch."""
    x = torch.randn(args.batch, 3, args.size, args.size)
    t = torch.randint(0, 1000, (args.batch,))
    with FlopCounterMode(display=False) as counter:
        call(model, x, t).float().pow(2).mean().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def matmul_peak(precision: str, n: int, reps: int) -> float:
    """GFLOP/s of an n×n×n matmul at the benchmark's dtype and threads (median of ``reps`` timed batches)."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    iters = 5
    rate, _ = median_rate(lambda: torch.mm(a, b), 1, iters, reps, warmup=2)
    return rate * 2 * n**3 / 1e9


def diffusers_unet(base: int, levels: int, layers: int, size: int) -> nn.Module:
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=size, in_channels=3, out_channels=3, layers_per_block=layers,
        block_out_channels=tuple(base * 2**i for i in range(levels)),
        down_block_types=("DownBlock2D",) * levels, up_block_types=("UpBlock2D",) * levels,
        norm_num_groups=min(32, base),
    )


def matched_diffusers(target: int, levels: int, size: int) -> tuple[nn.Module, dict[str, int]]:
    """The UNet2DModel (ResNet blocks, no attention, as many resolutions as ours) closest to ``target`` params."""
    best: tuple[float, int, int] | None = None
    for layers in (1, 2):
        for base in range(4, 257, 4):
            n = count_parameters(diffusers_unet(base, levels, layers, size))
            gap = abs(n - target) / target
            if best is None or gap < best[0]:
                best = (gap, base, layers)
            if n > target * (1 + TOLERANCE):
                break
    assert best is not None
    gap, base, layers = best
    if gap > TOLERANCE:
        raise SystemExit(f"no UNet2DModel within ±{TOLERANCE:.0%} of {target:,} parameters (closest {gap:.1%})")
    return diffusers_unet(base, levels, layers, size), {"base_channels": base, "layers_per_block": layers}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128, 256], help="encoder widths + bottleneck")
    p.add_argument("--time-dim", type=int, default=128)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--reps", type=int, default=3, help="repetitions; the median is reported (≥ 3)")
    p.add_argument("--iters", type=int, default=3, help="steps per repetition")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--matmul-n", type=int, default=2048)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.reps < 3:
        p.error("--reps must be ≥ 3 (the median of at least three repetitions is reported)")
    torch.set_num_threads(args.threads)

    def ours_call(m: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return m(x, t)

    def diffusers_call(m: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return m(x, t).sample

    ours = PaperUNet(args.widths, time_dim=args.time_dim, channels_last=True)
    n_ours = count_parameters(ours)
    ref, ref_config = matched_diffusers(n_ours, len(args.widths), args.size)
    n_ref = count_parameters(ref)

    flops = train_flops(ours, ours_call, args)
    peak = matmul_peak(args.precision, args.matmul_n, args.reps)
    bf16_peak = peak if args.precision == "bf16" else matmul_peak("bf16", args.matmul_n, args.reps)
    mine = time_model(ours, ours_call, args, channels_last=True)
    refs = {fmt: time_model(ref, diffusers_call, args, channels_last=fmt == "channels_last")
            for fmt in ("nchw", "channels_last")}
    ref_fmt = max(refs, key=lambda k: refs[k].train_img_s)
    best = refs[ref_fmt]
    achieved = flops / args.batch * mine.train_img_s / 1e9
    report = {
        "threads": args.threads, "precision": args.precision, "batch": args.batch, "size": args.size,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "ours": {"widths": args.widths, "parameters": n_ours, **asdict(mine),
                 "train_gflop_per_image": flops / args.batch / 1e9, "train_gflop_s": achieved},
        "diffusers": {**ref_config, "parameters": n_ref, "memory_format": ref_fmt, **asdict(best),
                      "by_format": {k: asdict(v) for k, v in refs.items()}},
        "train_ratio": mine.train_img_s / best.train_img_s,
        "sample_ratio": mine.sample_img_s / max(r.sample_img_s for r in refs.values()),
        "matmul_peak_gflop_s": peak,
        "fraction_of_peak": achieved / peak,
        "bf16_matmul_peak_gflop_s": bf16_peak,
        "fraction_of_bf16_peak": achieved / bf16_peak,
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(f"threads {args.threads}, {args.precision}, batch {args.batch}, {args.size} px, median of {args.reps} reps "
          f"(OMP_WAIT_POLICY={report['omp_wait_policy']})")
    print(f"ours      {n_ours:>11,} params  train {mine.train_img_s:8.1f} img/s  sample {mine.sample_img_s:8.1f} img/s")
    print(f"diffusers {n_ref:>11,} params  train {best.train_img_s:8.1f} img/s  sample "
          f"{max(r.sample_img_s for r in refs.values()):8.1f} img/s  ({ref_config}, {ref_fmt})")
    print(f"training ratio  {report['train_ratio']:.2f}x   (target ≥ 1.5x)")
    print(f"sampling ratio  {report['sample_ratio']:.2f}x")
    print(f"ours achieved   {achieved:.1f} GFLOP/s in training ({flops / args.batch / 1e9:.3f} GFLOP per image)")
    print(f"matmul peak     {peak:.1f} GFLOP/s ({args.precision}, n={args.matmul_n}) → "
          f"{report['fraction_of_peak']:.0%} of the {args.precision} peak")
    print(f"bf16 peak       {bf16_peak:.1f} GFLOP/s → {report['fraction_of_bf16_peak']:.0%} of the bf16 peak "
          "(target ≥ 65 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
