"""Do ADD-Pro's soft labels track the true pathological stage? A check the paper could not make.

On ``synth-histo`` every real image carries its true stage s ∈ [0, 1]. This script

1. trains an oracle (a small CNN regressor of s) on real training+validation images and reports its own
   Spearman ρ on the held-out real test images;
2. fits ADD (``workflow.fit``: resumes/reuses a fit in ``--runs-dir``) with the given profile and overrides;
3. generates ADD-Pro samples (``--sources`` × 10 levels) with each ``--measure`` (paper, reference) from the
   same fit, and reports Spearman's ρ between the soft labels and the oracle's stage estimate; ``--generated DIR``
   scores an existing ``augdiff augment --generator add-pro`` set the same way (``--measures ''`` skips step 3);
4. writes ``results.json`` and a scatter plot per measure into ``--out``.

    OMP_NUM_THREADS=2 nice -n 10 python benchmarks/add_label_oracle.py --out benchmarks/results/add-oracle
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from augdiff_add import measure as fm
from augdiff_add.generator import AddProGenerator
from PIL import Image, ImageDraw
from scipy.stats import spearmanr
from torch import nn

from augdiff import workflow
from augdiff.data import DataOptions, load_dataset
from augdiff.diffusion.data import to_model_range, to_uint8_images
from augdiff.generator import read_generated_set
from augdiff.plan import plan_generator

# The default budget fits in about 40 minutes on 2 shared cores: 16-px images, a two-level U-Net with one
# residual block per level, fp32 (bf16 autocast is slower than fp32 on CPUs without AVX512-BF16/AMX).
DEFAULT_SET = ["image_size=16", "channel_mult=[1,2]", "num_res_blocks=1", "batch_size=24", "steps=1200",
               "lr=5e-4", "ema_decay=0.995", "precision=fp32"]


class TextReporter:
    """Prints one line per ~10 % of each task (benchmarks run without a terminal)."""

    class _Task:
        def __init__(self, name: str, total: float | None) -> None:
            self.name, self.total, self.done, self.next, self.start = name, total, 0.0, 0.0, time.time()

        def advance(self, n: float = 1, **info: Any) -> None:
            self.done += n
            if self.total and self.done >= self.next:
                extra = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())
                print(f"  {self.name}: {self.done:.0f}/{self.total:.0f} ({time.time() - self.start:.0f}s) {extra}",
                      flush=True)
                self.next = self.done + self.total / 10

    def task(self, description: str, total: float | None):
        import contextlib

        return contextlib.nullcontext(self._Task(description, total))


class StageOracle(nn.Module):
    """A small CNN regressor of the stage s from an image."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch = 3
        for out in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(ch, out, 3, padding=1), nn.GroupNorm(8, out), nn.SiLU(),
                       nn.Conv2d(out, out, 3, padding=1), nn.GroupNorm(8, out), nn.SiLU(), nn.AvgPool2d(2)]
            ch = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.head(self.features(x).mean(dim=(2, 3)))).squeeze(1)


def train_oracle(images: np.ndarray, stages: np.ndarray, *, epochs: int, seed: int) -> StageOracle:
    torch.manual_seed(seed)
    model = StageOracle()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    x, y = to_model_range(images), torch.as_tensor(stages, dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=g)
        total = 0.0
        for i in range(0, len(x), 64):
            idx = order[i : i + 64]
            xb = x[idx]
            flip = torch.rand(len(idx), generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            loss = nn.functional.mse_loss(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        if epoch % 5 == 4 or epoch == epochs - 1:
            print(f"  oracle epoch {epoch + 1}/{epochs}: mse {total / len(x):.4f}", flush=True)
    return model.eval()


@torch.no_grad()
def predict(model: StageOracle, images: np.ndarray) -> np.ndarray:
    x = to_model_range(images)
    return torch.cat([model(x[i : i + 256]) for i in range(0, len(x), 256)]).numpy()


def scatter_png(x: np.ndarray, y: np.ndarray, title: str, path: Path, size: int = 420) -> None:
    """A plain scatter plot (soft label on x, oracle stage on y) drawn with PIL."""
    pad = 40
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    d.rectangle([pad, pad, size - pad, size - pad], outline="black")
    span = size - 2 * pad
    for v in (0.0, 0.5, 1.0):
        px = pad + v * span
        d.text((px - 8, size - pad + 6), f"{v:.1f}", fill="black")
        d.text((8, size - pad - v * span - 6), f"{v:.1f}", fill="black")
    for a, b in zip(x, y, strict=True):
        px, py = pad + float(a) * span, size - pad - float(np.clip(b, 0, 1)) * span
        d.ellipse([px - 2, py - 2, px + 2, py + 2], fill=(200, 40, 90))
    d.text((pad, 12), title, fill="black")
    d.text((size // 2 - 40, size - 18), "soft label L", fill="black")
    d.text((2, pad - 16), "oracle stage", fill="black")
    img.save(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    p.add_argument("--profile", default="cpu")
    p.add_argument("--fit-run", type=Path, default=None,
                   help="use this finished `augdiff fit add` run directory instead of fitting")
    p.add_argument("--set", dest="sets", action="append", default=None,
                   help=f"ADD config overrides KEY=VALUE (default: {' '.join(DEFAULT_SET)})")
    p.add_argument("--sources", type=int, default=40)
    p.add_argument("--sample-steps", type=int, default=None, help="DDIM grid for generation (default: profile)")
    p.add_argument("--measures", default="paper,reference",
                   help="generate --sources x 10 levels with each measure from the fit (empty: none)")
    p.add_argument("--generated", type=Path, default=None,
                   help="also score an existing ADD-Pro set (an `augdiff augment --generator add-pro` folder)")
    p.add_argument("--trajectory", type=int, default=0, metavar="N",
                   help="also decode N sources at every 2nd grid depth and report the mean label and stage by depth")
    p.add_argument("--clip-decode", action=argparse.BooleanOptionalAction, default=None,
                   help="clamp x̂_0 while decoding or not (config clip_decode; default: the fit's config)")
    p.add_argument("--oracle-epochs", type=int, default=30)
    p.add_argument("--oracle", type=Path, default=None,
                   help="oracle weights: loaded when the file exists, else trained and saved there")
    p.add_argument("--oracle-only", action="store_true", help="train/save the oracle and report it, then stop")
    p.add_argument("--size", type=int, default=16, help="image size for --oracle-only (else the fit's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/add-oracle"))
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, Any] = {}
    for item in args.sets if args.sets is not None else DEFAULT_SET:
        key, _, raw = item.partition("=")
        try:
            overrides[key] = json.loads(raw)
        except ValueError:
            overrides[key] = raw
    progress = TextReporter()
    results: dict[str, Any] = {"sources": args.sources}

    run_dir: Path | None = args.fit_run
    size = args.size
    gen_set = read_generated_set(args.generated) if args.generated is not None else None
    if gen_set is not None:
        size = gen_set.image(0).shape[0]
    # Scoring a set alone needs no fit: its images and labels are on disk.
    if run_dir is None and not args.oracle_only and (args.measures or args.trajectory):
        t0 = time.time()
        print("fitting ADD (resumes or reuses a fit in --runs-dir)", flush=True)
        plan = plan_generator("add", "synth-histo", DataOptions(seed=args.seed), profile=args.profile,
                              seed=args.seed, runs_dir=args.runs_dir, overrides=overrides)
        fitted = workflow.fit(plan, progress=progress)
        results.update(profile=args.profile, overrides=overrides, fit_reused=fitted.reused,
                       fit_seconds=round(time.time() - t0, 1))
        run_dir = fitted.run_dir
    if run_dir is not None:
        results["fit_run"] = str(run_dir)
        size = int(AddProGenerator.load(run_dir / workflow.MODEL_DIR).config["image_size"])

    ds = load_dataset("synth-histo", DataOptions(seed=args.seed, size=size))
    t0 = time.time()
    if args.oracle is not None and args.oracle.is_file():
        oracle = StageOracle()
        oracle.load_state_dict(torch.load(args.oracle, weights_only=True))
        oracle.eval()
    else:
        train_x = np.concatenate([ds.train.images, ds.val.images])
        train_s = np.concatenate([ds.train.stages, ds.val.stages])
        print(f"training the stage oracle on {len(train_x)} real {size}-px images", flush=True)
        oracle = train_oracle(train_x, train_s, epochs=args.oracle_epochs, seed=args.seed)
        if args.oracle is not None:
            torch.save(oracle.state_dict(), args.oracle)
    test_pred = predict(oracle, ds.test.images)
    rho_oracle = float(spearmanr(test_pred, ds.test.stages)[0])
    results["oracle"] = {"test_images": len(ds.test), "spearman_rho": round(rho_oracle, 4),
                         "mae": round(float(np.abs(test_pred - ds.test.stages).mean()), 4),
                         "seconds": round(time.time() - t0, 1)}
    print(f"oracle on held-out real images: ρ = {rho_oracle:.3f}", flush=True)
    if run_dir is None and gen_set is None:
        print(json.dumps(results, indent=2))
        return 0

    if gen_set is not None:
        images = gen_set.images()
        if images.shape[1] != size:
            raise SystemExit(f"{args.generated}: {images.shape[1]}-px images, but the fit is {size} px")
        # P(first direction's target class): L for A → B samples, 1 − L for B → A ones (--bidirectional).
        target = gen_set.records[0]["direction"].split("_to_")[1]
        labels = gen_set.probs()[:, gen_set.classes.index(target)]
        stage = predict(oracle, images)
        name = f"set-{args.generated.name}"
        results[name] = score(labels, stage, gen_set.records)
        _report(name, results[name], labels, stage, args.out)
        Image.fromarray(_strip_grid(images, gen_set.records, 6)).save(args.out / f"strips-{name}.png")
    if args.trajectory:
        results["trajectory"] = trajectory(run_dir, oracle, args.trajectory, args.seed)
        print(json.dumps(results["trajectory"]), flush=True)
    for measure in args.measures.split(",") if args.measures else []:
        gen = AddProGenerator.load(run_dir / workflow.MODEL_DIR)
        gen.config["measure"] = measure
        if args.clip_decode is not None:
            gen.config["clip_decode"] = args.clip_decode
        if args.sample_steps:
            gen.config["sample_steps"] = args.sample_steps
        t0 = time.time()
        samples = gen.generate(args.sources * len(gen.config["levels"]), seed=args.seed, progress=progress)
        labels = samples.probs[:, gen.domains()[1]]
        stage = predict(oracle, samples.images)
        results[measure] = {**score(labels, stage, samples.meta), "seconds": round(time.time() - t0, 1)}
        _report(measure, results[measure], labels, stage, args.out)
        Image.fromarray(_strip_grid(samples.images, samples.meta, 6)).save(args.out / f"strips-{measure}.png")

    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


def trajectory(run_dir: Path, oracle: StageOracle, sources: int, seed: int) -> dict[str, list[float]]:
    """Mean paper-measure label L and oracle stage of the bridge output at every 2nd depth of the grid: shows
    where along the depth the label moves and where the stage does."""
    gen = AddProGenerator.load(run_dir / workflow.MODEL_DIR)
    a, b = gen.domains()
    bridge = gen.bridge(a, b)
    images, _ = gen.sources(a, sources, seed)
    latents = bridge.encode(to_model_range(images))
    depths = [*range(0, bridge.num_depths - 1, 2), bridge.num_depths - 1]
    out = to_uint8_images(bridge.decode(latents, [(s, k) for s in range(sources) for k in depths]))
    out = out.reshape(sources, len(depths), *out.shape[1:])
    radius = float(gen.config["highpass_radius"])
    amp = fm.paper_amplitude(out.reshape(-1, *out.shape[2:]), radius).reshape(sources, len(depths))
    a_src = fm.paper_amplitude(images, radius)
    labels = fm.soft_label(a_src[:, None], amp, amp[:, -1:])
    stage = predict(oracle, out.reshape(-1, *out.shape[2:])).reshape(sources, len(depths))
    return {"depth_index": depths, "label": [round(float(v), 3) for v in np.nanmean(labels, 0)],
            "stage": [round(float(v), 3) for v in stage.mean(0)],
            "source_stage": round(float(predict(oracle, images).mean()), 3)}


def score(labels: np.ndarray, stage: np.ndarray, meta: list[dict[str, Any]]) -> dict[str, Any]:
    """ρ(soft label, oracle stage) over all samples, and how labels and stages behave per level and source."""
    requested = np.array([m["level_requested"] for m in meta])
    sources = np.array([f"{m['direction']}/{m['source']}" for m in meta])
    per_source = []
    for source in np.unique(sources):
        idx = sources == source
        if len(set(labels[idx])) > 1 and len(set(stage[idx])) > 1:
            per_source.append(float(spearmanr(labels[idx], stage[idx])[0]))
    return {
        "samples": len(labels), "spearman_rho": round(float(spearmanr(labels, stage)[0]), 4),
        "spearman_rho_requested_level": round(float(spearmanr(requested, stage)[0]), 4),
        "mean_within_source_rho": round(float(np.mean(per_source)), 4) if per_source else None,
        "label_error_vs_requested": round(float(np.nanmean(np.abs(labels - requested))), 4),
        "oracle_stage_by_level": {f"{lv:.1f}": round(float(stage[requested == lv].mean()), 4)
                                  for lv in sorted(set(requested))},
    }


def _report(name: str, result: dict[str, Any], labels: np.ndarray, stage: np.ndarray, out: Path) -> None:
    rho = result["spearman_rho"]
    scatter_png(labels, stage, f"ADD-Pro ({name}): Spearman rho = {rho:.3f}", out / f"scatter-{name}.png")
    print(f"{name}: ρ(soft label, oracle stage) = {rho:.3f} over {result['samples']} samples", flush=True)


def _strip_grid(images: np.ndarray, meta: list[dict[str, Any]], rows: int) -> np.ndarray:
    from augdiff_add import strips

    from augdiff import pictures

    by_source: dict[str, list[int]] = {}
    for i, m in enumerate(meta):
        by_source.setdefault(f"{m['direction']}/{m['source']}", []).append(i)
    lines = []
    for idx in list(by_source.values())[:rows]:
        idx = sorted(idx, key=lambda i: meta[i]["level_requested"])
        lines.append(strips.strip([images[i] for i in idx]))
    return pictures.stack(lines)


if __name__ == "__main__":
    sys.exit(main())
