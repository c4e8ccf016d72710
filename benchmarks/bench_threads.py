"""How much a competing CPU-bound process slows a multi-threaded torch workload, per OpenMP wait policy.

The workload is a few training steps of a small conv encoder-decoder (U-Net-ish, no skips: many short parallel
regions, where the wait policy matters most) at ``--threads`` threads. Each configuration runs in a fresh
subprocess, because the OpenMP runtime reads ``OMP_WAIT_POLICY`` once, when ``import torch`` loads it:

- policy ``default`` (the variable unset: libgomp spins ~300 000 times after each parallel region, then
  sleeps) and ``PASSIVE`` (what the augdiff CLI sets: sleep at once); ``--policies`` adds ``ACTIVE`` (spin
  forever);
- with no competitor and with ``--competitors`` busy-loop processes (pure-Python ``while True``) running;
- and, for comparison, the same workload on one thread (the policy does not matter there: no pool to wait in).

Prints seconds per step (median of ``--repeats``), the slowdown each competitor causes (loaded / unloaded, per
policy), PASSIVE's time over the default's, and how fast the competitors ran beside us (loop iterations per
second, relative to the first configuration), i.e. what our waiting threads took from them. Each child also
reports the spin count its OpenMP runtime read (``GOMP_SPINCOUNT`` via ``OMP_DISPLAY_ENV``) as a check that
the policy reached it. The machine's other load is part of every figure: say what else was running.

    python benchmarks/bench_threads.py                     # 2 threads, 1 competitor
    python benchmarks/bench_threads.py --threads 4 --competitors 2 --policies default PASSIVE ACTIVE --json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

# A competitor: spins in Python and, when told to stop, prints how many loop iterations per second it managed.
COMPETITOR = """
import signal, sys, time
n, t0 = 0, time.perf_counter()
def stop(*_):
    print(n / (time.perf_counter() - t0), flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
while True:
    n += 1
"""


def workload(threads: int, batch: int, size: int, steps: int, repeats: int) -> list[float]:
    """Seconds per training step, one figure per repetition (runs in the child, after the policy is set)."""
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)

    def block(cin: int, cout: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.SiLU(),
                             nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.SiLU())

    model = nn.Sequential(
        block(3, 32), nn.AvgPool2d(2), block(32, 64), nn.AvgPool2d(2), block(64, 64),
        nn.Upsample(scale_factor=2), block(64, 32), nn.Upsample(scale_factor=2), block(32, 32),
        nn.Conv2d(32, 3, 1),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x, target = torch.randn(batch, 3, size, size), torch.randn(batch, 3, size, size)

    def step() -> None:
        loss = nn.functional.mse_loss(model(x), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    step()  # warm-up: allocator, the thread pool
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        runs.append((time.perf_counter() - start) / steps)
    return runs


def child(args: argparse.Namespace) -> int:
    runs = workload(args.threads, args.batch, args.size, args.steps, args.repeats)
    json.dump({"runs": runs}, sys.stdout)
    return 0


def start_competitors(n: int) -> list[subprocess.Popen[str]]:
    procs = [subprocess.Popen([sys.executable, "-c", COMPETITOR], stdout=subprocess.PIPE, text=True)
             for _ in range(n)]
    for proc in procs:  # wait until each is spinning
        assert proc.stdout is not None
        proc.stdout.readline()
    return procs


def stop_competitors(procs: list[subprocess.Popen[str]]) -> list[float]:
    rates = []
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        rates.append(float(out.strip().splitlines()[-1]))
    return rates


def run_config(policy: str, threads: int, competitors: int, args: argparse.Namespace) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    env.update(OMP_NUM_THREADS=str(threads), OMP_DISPLAY_ENV="VERBOSE")
    command = [sys.executable, __file__, "--child", "--threads", str(threads), "--batch", str(args.batch),
               "--size", str(args.size), "--steps", str(args.steps), "--repeats", str(args.repeats)]
    procs = start_competitors(competitors)
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    finally:
        rates = stop_competitors(procs)
    spin = re.search(r"GOMP_SPINCOUNT = '(\d+)'", done.stderr)
    runs = json.loads(done.stdout)["runs"]
    return {"policy": policy, "threads": threads, "competitors": competitors,
            "spincount": int(spin.group(1)) if spin else None, "step_s": statistics.median(runs),
            "runs": runs,
            "competitor_iter_s": statistics.median(rates) if rates else None}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2, help="threads of the workload")
    p.add_argument("--competitors", type=int, default=1, help="busy-loop processes in the loaded runs")
    p.add_argument("--policies", nargs="+", default=["default", "PASSIVE"],
                   choices=["default", "PASSIVE", "ACTIVE"])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--steps", type=int, default=5, help="training steps per repetition")
    p.add_argument("--repeats", type=int, default=3, help="repetitions; the median is reported (≥ 3)")
    p.add_argument("--rounds", type=int, default=1,
                   help="run every configuration this many times, interleaved; the median round is reported")
    p.add_argument("--json", action="store_true")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args)
    if args.repeats < 3:
        p.error("--repeats must be ≥ 3 (the median of at least three repetitions is reported)")

    configs = [(policy, args.threads, load) for load in (0, args.competitors) for policy in args.policies]
    configs += [("default", 1, load) for load in (0, args.competitors)]
    rounds: dict[tuple[str, int, int], list[dict[str, Any]]] = {c: [] for c in configs}
    for _ in range(args.rounds):
        for config in configs:
            rounds[config].append(run_config(*config, args))
    results = {c: sorted(r, key=lambda x: x["step_s"])[len(r) // 2] for c, r in rounds.items()}

    def step(policy: str, threads: int, load: int) -> float:
        return results[(policy, threads, load)]["step_s"]

    base_rate = next((r["competitor_iter_s"] for r in results.values() if r["competitor_iter_s"]), None)
    slowdown = {policy: step(policy, args.threads, args.competitors) / step(policy, args.threads, 0)
                for policy in args.policies}
    policy_ratio = {load: {policy: step(policy, args.threads, load) / step("default", args.threads, load)
                           for policy in args.policies}
                    for load in (0, args.competitors)} if "default" in args.policies else {}
    report = {
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "threads": args.threads, "competitors": args.competitors, "batch": args.batch, "size": args.size,
        "results": [results[c] for c in configs],
        "slowdown_loaded_over_unloaded": slowdown,
        "policy_over_default": policy_ratio,
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(f"{report['cpus']} CPUs, load average at the end {report['load_average']}; workload: conv "
          f"encoder-decoder, batch {args.batch}, {args.size} px, median of {args.repeats} × {args.steps} "
          "steps"
          + (f", median of {args.rounds} rounds" if args.rounds > 1 else ""))
    print(f"{'policy':9}{'threads':>8}{'competitors':>12}{'spincount':>13}{'s/step':>9}"
          f"{'competitor speed':>18}")
    for config in configs:
        r = results[config]
        speed = f"{r['competitor_iter_s'] / base_rate:.2f}" if r["competitor_iter_s"] and base_rate else "—"
        print(f"{r['policy']:9}{r['threads']:>8}{r['competitors']:>12}{r['spincount']!s:>13}"
              f"{r['step_s']:9.4f}{speed:>18}")
    for policy, ratio in slowdown.items():
        print(f"slowdown from {args.competitors} competitor(s), {policy:8}: {ratio:.2f}x")
    for load, ratios in policy_ratio.items():
        for policy, ratio in ratios.items():
            if policy != "default":
                print(f"{policy} / default time, {load} competitor(s): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
