"""Why does an ADD-Pro set help or hurt a classifier? Per progression level, measured on one generated set.

For each requested level L of an ``augdiff augment --generator add-pro`` set this prints:

- the achieved soft label (mean, and mean |achieved − requested|) and how many labels came from the depth;
- the artefact share (``augdiff.metrics.artefacts``: more green-dominant pixels than any real training image);
- what a *teacher* says: a classifier trained on the real training split only (the benchmark's recipe, selected
  on the real validation split), its mean P(target class) on the images of that level, and the share it calls
  the target class. A soft label L that tracks the pathology should rise with the teacher's P(target).

The real validation images of each class are scored by the same teacher for reference. Nothing here looks at the
test split.

With ``--fit-run`` (the ADD fit the set was sampled from) it also looks for where artefacts arise:

- the decoder alone: unconditional DDIM samples of the target-domain model (under-training shows here);
- the depth search: the first ``--probe-sources`` sources decoded again at the spread depths i = L·T (the paper's
  depth rule, no search), against the depths the Eq. 9 search chose for the same sources and levels;
- the label shape: Spearman ρ between the teacher's P(target) and the soft labels (Eq. 9 vs i = L·T).

    OMP_NUM_THREADS=2 python benchmarks/add_pro_diagnosis.py --generated SET --data folder \\
        --data-root ../shared/data/pcam-mini --crop 32 --out docs/results/add-pro-diagnosis
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from augdiff import atomic
from augdiff.benchmark.protocol import classifier_config
from augdiff.classify.models import build_classifier
from augdiff.classify.train import predict, train_classifier
from augdiff.data import DataOptions, load_dataset
from augdiff.generator import one_hot, read_generated_set
from augdiff.metrics import artefacts
from augdiff.pictures import resize_images


def diagnose(generated_dir: Path, data: str, options: DataOptions, *, profile: str, seed: int,
             fit_run: Path | None = None, probe_sources: int = 48) -> dict[str, Any]:
    config = classifier_config(profile)
    dataset = load_dataset(data, DataOptions(**{**options.__dict__, "size": options.size or config.image_size}))
    gen = read_generated_set(generated_dir)
    if gen.classes != dataset.classes:
        raise SystemExit(f"{generated_dir}: classes {gen.classes} differ from the data's {dataset.classes}")
    images = resize_images(gen.images(), dataset.image_size)
    train = dataset.train
    teacher = train_classifier(
        lambda: build_classifier(config.classifier, len(dataset.classes), dataset.image_size),
        train.images, one_hot(train.labels, len(dataset.classes)), dataset.val, config, seed=seed,
    )
    p_gen = predict(teacher.model, images, config).numpy()
    p_val = predict(teacher.model, dataset.val.images, config).numpy()
    flagged = artefacts.flags(images, train.images)
    shares = artefacts.green_share(images)

    rows = []
    records = gen.records
    directions = sorted({r.get("direction", "?") for r in records})
    for direction in directions:
        target = next((i for i, c in enumerate(gen.classes) if direction.endswith(f"_to_{c}")), 1)
        levels = sorted({r["level_requested"] for r in records if r.get("direction") == direction})
        for level in levels:
            idx = np.array([i for i, r in enumerate(records)
                            if r.get("direction") == direction and r["level_requested"] == level])
            achieved = np.array([records[i]["level"] for i in idx])
            rows.append({
                "direction": direction, "level": level, "n": len(idx),
                "label_mean": float(achieved.mean()), "label_error": float(np.abs(achieved - level).mean()),
                "from_depth": int(sum(records[i].get("label_from") == "depth" for i in idx)),
                "artefact_share": float(flagged[idx].mean()), "green_pixels": float(shares[idx].mean()),
                "teacher_p_target": float(p_gen[idx, target].mean()),
                "teacher_calls_target": float((p_gen[idx].argmax(1) == target).mean()),
            })
    val_labels = np.asarray(dataset.val.labels)
    reference = {c: float((p_val[val_labels == i].argmax(1) == 1).mean()) for i, c in enumerate(dataset.classes)}
    result = {"generated": str(generated_dir), "n": len(gen), "teacher_val": teacher.val,
              "teacher_best_step": teacher.best_step, "val_share_called_class1": reference, "levels": rows,
              "rho_teacher_label": _rho(p_gen, records, gen.classes)}
    if fit_run is not None:
        result["causes"] = causes(fit_run, gen, teacher.model, config, train.images, dataset.image_size,
                                  probe_sources=probe_sources, seed=seed)
    return result


def _rho(p: np.ndarray, records: list[dict[str, Any]], classes: list[str]) -> float:
    """Spearman ρ between each image's soft label (its level) and the teacher's P(its target class)."""
    target = [next((i for i, c in enumerate(classes) if r.get("direction", "").endswith(f"_to_{c}")), 1)
              for r in records]
    teacher = p[np.arange(len(records)), target]
    return float(spearmanr([r["level"] for r in records], teacher).statistic)


def causes(fit_run: Path, gen: Any, teacher: Any, config: Any, real_train: np.ndarray, size: int, *,
           probe_sources: int, seed: int) -> dict[str, Any]:
    """Artefact shares of the decoder alone and of spread-depth decodes, against the search's choices."""
    from augdiff_add.generator import AddProGenerator

    from augdiff.diffusion.data import to_model_range, to_uint8_images
    from augdiff.diffusion.sampling import sample
    from augdiff.seeding import torch_generator

    model = AddProGenerator.load(Path(fit_run) / "model")
    src, tgt = model.domains()
    bridge = model.bridge(src, tgt)
    n_uncond = 256
    uncond = to_uint8_images(sample(bridge.target, bridge.decode_sampler, (n_uncond, 3, model.image_size,
                                                                          model.image_size),
                                    generator=torch_generator(seed, "diagnosis-unconditional"),
                                    batch_size=bridge.batch_size))
    out: dict[str, Any] = {"decoder_unconditional": {
        "n": n_uncond, "artefact_share": float(artefacts.flags(resize_images(uncond, size), real_train).mean())}}

    # The same sources and levels, decoded at the spread depths instead of the searched ones.
    by_source: dict[str, list[int]] = {}
    for i, r in enumerate(gen.records):
        by_source.setdefault(r["source"], []).append(i)
    chosen = list(by_source)[:probe_sources]
    ids = model.train_images[src][1]
    images = model.train_images[src][0][[ids.index(s) for s in chosen]]
    latents = bridge.encode(to_model_range(images))
    levels = sorted({gen.records[i]["level_requested"] for i in by_source[chosen[0]]})
    top = bridge.num_depths - 1
    pairs = [(s, min(top, max(0, round(lv * top)))) for s in range(len(chosen)) for lv in levels]
    spread = resize_images(to_uint8_images(bridge.decode(latents, pairs)), size)
    searched_idx = [i for s in chosen for i in sorted(by_source[s], key=lambda i: gen.records[i]["level_requested"])]
    searched = resize_images(gen.images(searched_idx), size)
    flag_spread = artefacts.flags(spread, real_train).reshape(len(chosen), len(levels))
    flag_search = artefacts.flags(searched, real_train)
    p_spread = predict(teacher, spread, config).numpy()[:, tgt]
    spread_labels = np.tile(levels, len(chosen))
    out["spread_vs_search"] = {
        "sources": len(chosen), "levels": levels,
        "artefact_share_spread": flag_spread.mean(0).tolist(),
        "artefact_share_search": [float(flag_search[[j for j, i in enumerate(searched_idx)
                                                     if gen.records[i]["level_requested"] == lv]].mean())
                                  for lv in levels],
        "teacher_p_target_spread": p_spread.reshape(len(chosen), len(levels)).mean(0).tolist(),
        "rho_teacher_depth_label": float(spearmanr(spread_labels, p_spread).statistic),
    }
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [f"teacher (real-only classifier) validation accuracy {100 * result['teacher_val']['accuracy']:.1f} %; "
             f"share of real validation images it calls class 1: "
             + ", ".join(f"{c} {100 * v:.0f} %" for c, v in result["val_share_called_class1"].items()), "",
             "| direction | level | n | label mean | label error | from depth | artefacts | teacher P(target) "
             "| teacher calls target |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["levels"]:
        lines.append(f"| {r['direction']} | {r['level']:g} | {r['n']} | {r['label_mean']:.2f} | "
                     f"{r['label_error']:.3f} | {r['from_depth']} | {100 * r['artefact_share']:.1f} % | "
                     f"{r['teacher_p_target']:.2f} | {100 * r['teacher_calls_target']:.0f} % |")
    lines += ["", f"Spearman ρ(soft label, teacher P(target)) over the set: {result['rho_teacher_label']:.3f}"]
    c = result.get("causes")
    if c:
        sv = c["spread_vs_search"]
        lines += [
            f"Decoder alone ({c['decoder_unconditional']['n']} unconditional DDIM samples of the target model): "
            f"{100 * c['decoder_unconditional']['artefact_share']:.1f} % flagged.", "",
            f"Same {sv['sources']} sources at the spread depths i = L·T vs the searched depths "
            f"(ρ(depth label, teacher) = {sv['rho_teacher_depth_label']:.3f}):", "",
            "| level | artefacts, spread depth | artefacts, searched depth | teacher P(target), spread |",
            "|---|---|---|---|"]
        for lv, a, b, t in zip(sv["levels"], sv["artefact_share_spread"], sv["artefact_share_search"],
                               sv["teacher_p_target_spread"], strict=True):
            lines.append(f"| {lv:g} | {100 * a:.0f} % | {100 * b:.0f} % | {t:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generated", type=Path, required=True)
    ap.add_argument("--data", default="folder")
    ap.add_argument("--data-root", type=Path)
    ap.add_argument("--crop", type=int)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fit-run", type=Path, help="the ADD fit run folder the set was sampled from")
    ap.add_argument("--probe-sources", type=int, default=48)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    result = diagnose(args.generated, args.data, DataOptions(root=args.data_root, crop=args.crop, seed=args.seed),
                      profile=args.profile, seed=args.seed, fit_run=args.fit_run, probe_sources=args.probe_sources)
    text = markdown(result)
    print(text)
    if args.out:
        atomic.write_json(args.out / "diagnosis.json", result)
        atomic.write_text(args.out / "diagnosis.md", text)


if __name__ == "__main__":
    main()
