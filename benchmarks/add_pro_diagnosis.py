"""Why does an ADD-Pro set help or hurt a classifier? Per progression level, measured on one generated set.

For each requested level L of an ``augdiff augment --generator add-pro`` set this prints:

- the achieved soft label (mean, and mean |achieved − requested|) and how many labels came from the depth;
- the artefact share (``augdiff.metrics.artefacts``: more green-dominant pixels than any real training image);
- what a *teacher* says: a classifier trained on the real training split only (the benchmark's recipe, selected
  on the real validation split), its mean P(target class) on the images of that level, and the share it calls
  the target class. A soft label L that tracks the pathology should rise with the teacher's P(target).

The real validation images of each class are scored by the same teacher for reference. Nothing here looks at the
test split.

    OMP_NUM_THREADS=2 python benchmarks/add_pro_diagnosis.py --generated SET --data folder \\
        --data-root ../shared/data/pcam-mini --crop 32 --out docs/results/add-pro-diagnosis
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from augdiff import atomic
from augdiff.benchmark.protocol import classifier_config
from augdiff.classify.models import build_classifier
from augdiff.classify.train import predict, train_classifier
from augdiff.data import DataOptions, load_dataset
from augdiff.generator import one_hot, read_generated_set
from augdiff.metrics import artefacts
from augdiff.mixer import resize_images


def diagnose(generated_dir: Path, data: str, options: DataOptions, *, profile: str, seed: int) -> dict[str, Any]:
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
    return {"generated": str(generated_dir), "n": len(gen), "teacher_val": teacher.val,
            "teacher_best_step": teacher.best_step,
            "val_share_called_class1": reference, "levels": rows}


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
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generated", type=Path, required=True)
    ap.add_argument("--data", default="folder")
    ap.add_argument("--data-root", type=Path)
    ap.add_argument("--crop", type=int)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    result = diagnose(args.generated, args.data, DataOptions(root=args.data_root, crop=args.crop, seed=args.seed),
                      profile=args.profile, seed=args.seed)
    text = markdown(result)
    print(text)
    if args.out:
        atomic.write_json(args.out / "diagnosis.json", result)
        atomic.write_text(args.out / "diagnosis.md", text)


if __name__ == "__main__":
    main()
