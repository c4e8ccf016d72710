"""The benchmark's outputs: report.json (everything), report.md (the table), chart.png, val_curves.png,
samples/<generator>.png.

Summaries are in percent (accuracy 81.2 means 81.2 %), differences in percentage points; per-cell metrics in
report.json keep torchmetrics' fractions. The charts and sample grids are drawn with Pillow.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from augdiff import atomic
from augdiff.benchmark import generation
from augdiff.benchmark.estimate import report_text
from augdiff.benchmark.recipes import BASELINE
from augdiff.benchmark.stats import CONFIDENCE, crossed_ci, crossed_detectable
from augdiff.classify.metrics import METRICS
from augdiff.pictures import png_bytes
from augdiff.runstore import versions

if TYPE_CHECKING:
    from augdiff.benchmark.protocol import BenchmarkOptions, Cell
    from augdiff.benchmark.recipes import SetPlan, TrainingSet
    from augdiff.benchmark.variants import GeneratorEntry
    from augdiff.classify.train import ClassifierConfig
    from augdiff.data.spec import Dataset
    from augdiff.generator import GeneratedSet

SELECTION = "checkpoint with the best validation accuracy (ties: higher validation AUROC, then the earlier step)"
HEADLINE = ("accuracy", "f1")
LABELS = {"accuracy": "Accuracy", "f1": "F1", "macro_f1": "Macro-F1", "auroc": "AUROC"}


def build_report(
    *,
    opts: BenchmarkOptions,
    config: ClassifierConfig,
    plans: list[SetPlan],
    sets: dict[tuple[str, int], TrainingSet],
    cells: list[Cell],
    seeds: list[int],
    dataset: Dataset,
    generators: list[str],
    params: int,
    notes: list[str],
    calibration: dict[str, float] | None,
    seconds: float,
    fit_seeds: list[int] | None = None,
    entries: list[GeneratorEntry] | None = None,
    fit_runs: dict[str, list[str]] | None = None,
    timing: dict[str, Any] | None = None,
    external: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``sets`` and the cells are keyed by (set name, fit seed index); real-only sets have fit seed 0 only, and so
    have the rows of ``external`` (``--generated`` sets, by row name: where each came from; nothing was fitted)."""
    fit_seeds = fit_seeds or [opts.seed]
    external = external or {}
    by_set: dict[str, dict[tuple[int, int], dict[str, Any]]] = {}
    reused = {(c.set_name, c.fit_index, c.seed_index): c.reused for c in cells}
    for c in cells:
        by_set.setdefault(c.set_name, {})[(c.fit_index, c.seed_index)] = c.result
    baseline = [by_set[BASELINE][(0, k)]["test"] for k in range(len(seeds))]
    entry_of = {e.name: e for e in entries or []}
    rows = []
    for plan in plans:
        fits = range(len(fit_seeds) if plan.generator and plan.generator not in external else 1)
        results = [[by_set[plan.name][(j, k)] for k in range(len(seeds))] for j in fits]
        # A fit seeds × classifier seeds table per metric (one row for real-only sets): see stats.crossed_ci.
        table = {m: np.array([[100 * r["test"][m] for r in row] for row in results]) for m in METRICS}
        summary = {m: crossed_ci(table[m]).to_dict() for m in METRICS}
        diff = None
        if plan.name != BASELINE:
            diff = {}
            for m in METRICS:
                # Cell (j, k) against the baseline's classifier seed k.
                deltas = table[m] - np.array([100 * b[m] for b in baseline])[None, :]
                diff[m] = {**crossed_ci(deltas).to_dict(), "detectable": crossed_detectable(deltas)}
        flat = [(j, r) for j, row in zip(fits, results, strict=True) for r in row]
        late = [r["best_step"] for _, r in flat if r["best_step"] > 0.9 * r["optimizer_steps"]]
        entry = entry_of.get(plan.generator or "")
        rows.append({
            "name": plan.name, "recipe": plan.recipe.name, "generator": plan.generator,
            "description": plan.recipe.description, "composition": sets[(plan.name, 0)].composition(),
            "summary": summary, "vs_baseline": diff, "late_best": len(late),
            "fit_seeds": len(fits), **_row_generator(entry, (fit_runs or {}).get(plan.generator or "")),
            **({"source": external[plan.generator]} if plan.generator in external else {}),
            "val_curve": val_curve([r for _, r in flat]),
            "cells": [{k: r[k] for k in ("seed_index", "seed", "test", "val", "best_step", "optimizer_steps",
                                         "samples_seen", "seconds")}
                      | {"fit_seed_index": j, "fit_seed": fit_seeds[j],
                         "reused": reused[(plan.name, j, r["seed_index"])]}
                      for j, r in flat],
        })
    return {
        "data": opts.data,
        "data_options": opts.data_options.record(),
        "image_size": dataset.image_size,
        "classes": dataset.classes,
        "splits": {name: split.counts() for name, split in dataset.splits.items()},
        "profile": opts.profile,
        "classifier": {**config.to_dict(), "parameters": params,
                       "pretrained": str(opts.pretrained) if opts.pretrained else None},
        "regime": opts.regime(),
        "selection": SELECTION,
        "confidence": CONFIDENCE,
        "base_seed": opts.seed,
        "seeds": seeds,
        "fit_seeds": fit_seeds,
        "variance": variance_sources(len(fit_seeds)),
        "generators": generators,
        "generator_options": {e.name: {"generator": e.generator, "options": e.overrides, "variant": e.variant,
                                       **({"benchmark_defaults": list(e.defaults)} if e.defaults else {})}
                              for e in entries or [] if e.overrides or e.variant},
        "units": "summaries in percent, differences in percentage points, per-cell metrics as fractions",
        "sets": rows,
        "cells_trained": sum(not c.reused for c in cells),
        "cells_reused": sum(c.reused for c in cells),
        "calibration": calibration,
        "seconds": round(seconds, 1),
        "timing": timing,
        "notes": [*notes, *repeat_notes(plans, sets, fit_seeds)],
        "versions": versions(),
    }


def repeat_notes(plans: list[SetPlan], sets: dict[tuple[str, int], TrainingSet], fit_seeds: list[int]) -> list[str]:
    """A note for each training set whose generated part repeats images: its size overstates its variety."""
    notes = []
    for plan in plans:
        for j in range(len(fit_seeds) if plan.generator else 0):
            training_set = sets.get((plan.name, j))
            if training_set is None:
                continue
            comp = training_set.composition()
            if comp["distinct"] < comp["generated"]:
                fit = f" (fit seed {j})" if j else ""
                notes.append(f"`{plan.name}`{fit}: its {comp['generated']} generated images hold only "
                             f"{comp['distinct']} distinct ones ({comp['generated'] - comp['distinct']} repeats, "
                             "equal pixel hashes); the generator could not give that many different images")
    return notes


def _row_generator(entry: GeneratorEntry | None, fit_runs: list[str] | None) -> dict[str, Any]:
    """A generator row's installed generator, its options and its fits (nothing for real-only rows)."""
    if entry is None:
        return {}
    return {"installed_generator": entry.generator, "options": entry.overrides, "fit_runs": fit_runs or []}


def val_curve(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Validation accuracy (%) against optimiser step over a set's cells: mean, min and max at each step.

    Only the steps every cell with a history evaluated are kept, so each point averages the same cells; cells
    without a history (written before it was recorded) are left out, and a set with none has no curve (None).
    ``best_step`` is the mean curve's first maximum, the step the plot marks.
    """
    histories = [{h["step"]: 100 * h["accuracy"] for h in r["history"]} for r in results if r.get("history")]
    if not histories:
        return None
    steps = sorted(set.intersection(*(set(h) for h in histories)))
    if not steps:
        return None
    values = np.array([[h[s] for s in steps] for h in histories])  # cells × steps
    mean = values.mean(0)
    return {"steps": steps, "mean": np.round(mean, 2).tolist(), "low": np.round(values.min(0), 2).tolist(),
            "high": np.round(values.max(0), 2).tolist(), "best_step": steps[int(np.argmax(mean))],
            "cells": len(histories)}


def variance_sources(fit_seeds: int) -> str:
    """What the intervals of a report cover (the same words in report.json and report.md)."""
    if fit_seeds > 1:
        return (f"classifier seeds and generator fits: each generator was fitted and sampled {fit_seeds} times "
                "(fit seeds), and its intervals cover both sources of variance; real-only sets: classifier seeds")
    return ("classifier seeds only: each generator was fitted and sampled once, so fit-to-fit variance is not in "
            "the intervals (--fit-seeds K adds it)")


# -- text --------------------------------------------------------------------------------------------------------
def fmt_interval(iv: dict[str, Any]) -> str:
    if iv["half_width"] is None:
        return f"{iv['mean']:.1f}"
    return f"{iv['mean']:.1f} ± {iv['half_width']:.1f}"


def fmt_difference(iv: dict[str, Any] | None) -> str:
    if iv is None:
        return "—"
    if iv["low"] is None:
        return f"{iv['mean']:+.1f}"
    mark = (" ↑" if iv["low"] > 0 else " ↓") if iv["excludes_zero"] else ""
    return f"{iv['mean']:+.1f} [{iv['low']:+.1f}, {iv['high']:+.1f}]{mark}"


def table_rows(report: dict[str, Any], metrics: tuple[str, ...] = HEADLINE) -> tuple[list[str], list[list[str]]]:
    """Header and rows shared by report.md and the terminal table."""
    header = ["Set", "Train (real + generated)"]
    header += [f"{LABELS[m]} (%)" for m in metrics] + [f"Δ {LABELS[m]} (pp)" for m in metrics]
    rows = []
    for s in report["sets"]:
        row = [s["name"], composition_text(s["composition"])]
        row += [fmt_interval(s["summary"][m]) for m in metrics]
        row += [fmt_difference(s["vs_baseline"] and s["vs_baseline"][m]) for m in metrics]
        rows.append(row)
    return header, rows


def composition_text(comp: dict[str, Any]) -> str:
    """``real + generated``, with the distinct generated images (reports before they were counted lack them)."""
    text = f"{comp['real']} + {comp['generated']}"
    if comp["generated"] and comp.get("distinct") is not None:
        text += f" ({comp['distinct']} distinct)"
    return text


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(report: dict[str, Any], sample_grids: list[str]) -> str:
    c = report["classifier"]
    k = len(report["seeds"])
    fits = len(report.get("fit_seeds") or [0])
    fits_text = f" × {fits} fit seeds per generator" if fits > 1 else ""
    opts = report["data_options"]
    lines = [
        f"# augdiff benchmark: {report['data']}",
        "",
        f"- data: `{report['data']}` (root {opts.get('root')}, crop {opts.get('crop')}, "
        f"{report['image_size']} px, {_drawn_per_class(report['splits']['train'])}); splits "
        + ", ".join(f"{n} {v}" for n, v in report["splits"].items()),
        f"- classifier: `{c['classifier']}` ({c['parameters']:,} parameters, pretrained: {c['pretrained'] or 'no'}), "
        f"{c['steps']} optimiser steps × batch {c['batch_size']} for every set, AdamW lr {c['lr']} "
        f"(warm-up {c['warmup_steps']}, cosine), {c['precision']}",
        f"- budget: {_budget_text(report.get('regime') or {}, c)}",
        f"- model selection: {report['selection']} on the real validation split; metrics on the real test split",
        f"- profile `{report['profile']}`, {k} seeds per set{fits_text} (base seed {report['base_seed']}), "
        f"{report['cells_trained']} cells trained and {report['cells_reused']} reused, wall time "
        f"{report['seconds'] / 60:.1f} min",
        *_generator_lines(report),
        *_external_lines(report),
        *([f"- time, estimated before any work → actual: {report_text(report['timing'])}"]
          if report.get("timing") else []),
        "",
        _md_table(*table_rows(report)),
        "",
        _interval_caption(report),
        "",
        _md_table(*table_rows(report, ("macro_f1", "auroc"))),
        "",
        "![accuracy and F1 with 95% CI](chart.png)",
        "",
    ]
    lines += _val_curve_lines(report) + _power_lines(report) + _convergence_lines(report)
    lines += generation.markdown(report.get("generation") or {})
    lines += _artefact_lines(report.get("artefacts") or {})
    if sample_grids:
        lines += ["## Samples", ""] + [f"![{g}](samples/{g}.png)" for g in sample_grids] + [""]
    if report["notes"]:
        lines += ["## Notes", ""] + [f"- {n}" for n in report["notes"]] + [""]
    return "\n".join(lines)


def _interval_caption(report: dict[str, Any]) -> str:
    k, conf = len(report["seeds"]), f"{report['confidence']:.0%}"
    fits = len(report.get("fit_seeds") or [0])
    tail = ("↑/↓ mark an interval that excludes 0. F1 is the positive class's (class 1) for binary data, macro "
            "otherwise.")
    if fits == 1:
        return (f"Mean ± half-width of the {conf} t interval over the {k} seeds. Δ is the paired difference to "
                f"`{BASELINE}` over the same seeds with its {conf} t interval; {tail} The intervals cover "
                f"{report.get('variance') or variance_sources(1)}.")
    return (f"Generated sets: mean ± half-width of the {conf} interval over {fits} fit seeds × {k} classifier "
            "seeds, covering both sources of variance (se² = s²(fit means)/K + s²(seed means)/S, "
            f"Welch–Satterthwaite degrees of freedom; docs/benchmark.md); real-only sets: the t interval over the "
            f"{k} seeds. Δ pairs cell (fit j, seed k) with `{BASELINE}`'s seed k, with the same interval; {tail}")


def _generator_lines(report: dict[str, Any]) -> list[str]:
    """The options of each generator row that has any (a variant is its generator with other options)."""
    rows = []
    for name, spec in (report.get("generator_options") or {}).items():
        defaults = set(spec.get("benchmark_defaults") or ())
        options = ", ".join(f"{k}={json.dumps(v)}" + (" (benchmark default)" if k in defaults else "")
                            for k, v in spec["options"].items()) or "its profile's options"
        rows.append(f"`{name}` = `{spec['generator']}` with {options}" if spec.get("variant")
                    else f"`{name}` with {options}")
    return [f"- generator options: {'; '.join(rows)}"] if rows else []


def _external_lines(report: dict[str, Any]) -> list[str]:
    """Where each ``--generated`` set came from, once per row name."""
    sources = {s["generator"]: s["source"] for s in report["sets"] if s.get("source")}
    lines = []
    for name, src in sources.items():
        made_by = (src.get("made_by") or {}).get("generator")
        kind = f"an augdiff set made by `{made_by}`" if made_by else src["kind"]
        lines.append(f"- `{name}`: {src['images']} images ({src['distinct']} distinct) from `{src['directory']}` "
                     f"({kind}), fingerprint `{src['fingerprint']}`; no generator was fitted or sampled here, so its "
                     "intervals cover classifier seeds only")
    return lines


def _drawn_per_class(train: dict[str, int]) -> str:
    """The training images per class actually drawn (auto or --train-per-class), e.g. "24 train per class"."""
    counts = set(train.values())
    if len(counts) == 1:
        return f"{counts.pop()} train per class"
    return "train per class " + ", ".join(f"{c} {n}" for c, n in train.items())


def _budget_text(regime: dict[str, Any], c: dict[str, Any]) -> str:
    if regime.get("budget") == "epochs":
        text = (f"epochs: every set makes the real-only baseline's passes over the real split ({c['steps']} steps); "
                f"each drawn real image is replaced by a generated one with probability {regime['synthetic_prob']}")
    else:
        text = f"steps: {c['steps']} optimiser steps for every set, whatever its size"
    if regime.get("drop_artefacts"):
        text += "; generated images outside the real split's artefact range left out"
    teacher = regime.get("teacher")
    if teacher:
        text += ("; generated images relabelled by a real-only classifier" if teacher == "relabel" else
                 f"; generated images kept only within {teacher.removeprefix('filter')} of a real-only classifier's "
                 "probabilities")
    return text


def _power_lines(report: dict[str, Any]) -> list[str]:
    """For each comparison the seeds cannot tell from the baseline: the smallest difference they could detect."""
    lines = []
    for s in report["sets"]:
        d = (s["vs_baseline"] or {}).get("accuracy")
        if d and not d["excludes_zero"] and d.get("detectable") is not None:
            fits = s.get("fit_seeds", 1)
            pairs = f"{fits} fits × {d['n'] // fits} paired seeds" if fits > 1 else f"{d['n']} paired seeds"
            lines.append(f"- `{s['name']}`: no accuracy difference detected; with {pairs} a true "
                         f"difference of ±{d['detectable']:.1f} pp would be detected 80 % of the time")
    if not lines:
        return []
    return ["## Power", "", f"Intervals cover {report.get('variance') or variance_sources(1)}.", "", *lines, ""]


def _val_curve_lines(report: dict[str, Any]) -> list[str]:
    if not _curves(report):
        return []
    return ["![validation accuracy against optimiser step, per set](val_curves.png)", "",
            "Validation accuracy (%) against optimiser step for each set: the line is the mean over the set's "
            "cells, the light band their min–max, the dot the step where the mean is highest; a set whose best "
            "step is the last one had not converged within the budget (a longer budget could change its row).", ""]


def _convergence_lines(report: dict[str, Any]) -> list[str]:
    late = [f"`{s['name']}` ({s['late_best']} of {len(s['cells'])} seeds)" for s in report["sets"] if s.get("late_best")]
    if not late:
        return []
    return ["## Convergence", "", "Best validation checkpoint in the last 10 % of the budget (the set may still be "
            "improving; a longer budget could change its row): " + ", ".join(late) + ".", ""]


def _artefact_lines(art: dict[str, Any]) -> list[str]:
    if not art.get("sets"):
        return []
    lines = ["## Artefacts", "",
             f"Share of generated images with more green-dominant pixels (G > R + 10, G > B) than any real training "
             f"image (threshold {100 * art['threshold']:.1f} % of pixels; real training images flagged: "
             f"{100 * art['real_flagged']:.1f} %).", "", "| generated set | images | flagged | by level |",
             "|---|---|---|---|"]
    for name, row in art["sets"].items():
        levels = ", ".join(f"{lv}: {100 * v:.0f} %" for lv, v in row["by_level"].items()) or "—"
        lines.append(f"| {name} | {row['n']} | {100 * row['flagged']:.1f} % | {levels} |")
    return [*lines, ""]


# -- pictures ----------------------------------------------------------------------------------------------------
_COLOURS = {"accuracy": (66, 110, 180), "f1": (222, 132, 62)}


def render_chart(report: dict[str, Any]) -> Image.Image:
    """Grouped bars (accuracy, F1) per set with 95 % CI error bars; the axis starts below the lowest interval."""
    font = ImageFont.load_default()
    sets = report["sets"]
    group_w, bar_w, left, top, plot_h, bottom = 120, 34, 60, 40, 300, 70
    width, height = left + group_w * len(sets) + 20, top + plot_h + bottom
    lows = [s["summary"][m]["low"] if s["summary"][m]["low"] is not None else s["summary"][m]["mean"]
            for s in sets for m in HEADLINE]
    y0 = max(0.0, math.floor((min(lows) - 5) / 10) * 10)
    y1 = 100.0

    def y(v: float) -> float:
        return top + plot_h * (1 - (min(max(v, y0), y1) - y0) / (y1 - y0))

    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    for tick in np.arange(y0, y1 + 1e-9, 10):
        d.line([(left, y(tick)), (width - 20, y(tick))], fill=(225, 225, 225))
        d.text((left - 8, y(tick)), f"{tick:.0f}", fill="black", font=font, anchor="rm")
    d.line([(left, top), (left, top + plot_h)], fill="black")
    for i, s in enumerate(sets):
        x_group = left + group_w * i + (group_w - 2 * bar_w) / 2
        for j, m in enumerate(HEADLINE):
            iv = s["summary"][m]
            x = x_group + j * bar_w
            d.rectangle([x + 2, y(iv["mean"]), x + bar_w - 2, top + plot_h], fill=_COLOURS[m])
            if iv["low"] is not None:
                xc = x + bar_w / 2
                d.line([(xc, y(iv["high"])), (xc, y(iv["low"]))], fill="black", width=2)
                for v in (iv["low"], iv["high"]):
                    d.line([(xc - 6, y(v)), (xc + 6, y(v))], fill="black", width=2)
        label = s["name"].split("/")
        for line_no, part in enumerate(label):
            d.text((left + group_w * i + group_w / 2, top + plot_h + 8 + 13 * line_no), part, fill="black",
                   font=font, anchor="ma")
    fits = len(report.get("fit_seeds") or [0])
    over = f"{fits} fits × {len(report['seeds'])} seeds" if fits > 1 else f"{len(report['seeds'])} seeds"
    d.text((left, 12), f"{report['data']}: test accuracy and F1 (%), mean and {report['confidence']:.0%} CI over "
           f"{over}", fill="black", font=font)
    for j, m in enumerate(HEADLINE):
        x = width - 170 + 80 * j
        d.rectangle([x, height - 22, x + 12, height - 10], fill=_COLOURS[m])
        d.text((x + 16, height - 22), LABELS[m], fill="black", font=font)
    return img


# A qualitative palette (Tableau 10), repeated when there are more sets than colours.
_PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
            (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def _curves(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(set name, curve) for the sets whose cells recorded a validation history."""
    return [(s["name"], s["val_curve"]) for s in report["sets"] if s.get("val_curve")]


def render_val_curves(report: dict[str, Any]) -> Image.Image | None:
    """One axes, a line per set: mean validation accuracy against optimiser step, a light min–max band over the
    set's cells, a dot at the mean's best step. None when no set has a history (reports of older cells)."""
    curves = _curves(report)
    if not curves:
        return None
    font = ImageFont.load_default()
    left, top, plot_w, plot_h, bottom, legend_w = 60, 40, 560, 300, 50, 230
    width, height = left + plot_w + legend_w, max(top + plot_h + bottom, top + 16 * len(curves) + 20)
    x1 = max(max(c["steps"]) for _, c in curves)
    lows = [v for _, c in curves for v in c["low"]]
    highs = [v for _, c in curves for v in c["high"]]
    y0 = max(0.0, math.floor((min(lows) - 2) / 10) * 10)
    y1 = min(100.0, math.ceil((max(highs) + 2) / 10) * 10)
    y1 = y1 if y1 > y0 else y0 + 10

    def xy(step: float, v: float) -> tuple[float, float]:
        return left + plot_w * step / x1, top + plot_h * (1 - (v - y0) / (y1 - y0))

    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    for tick in np.arange(y0, y1 + 1e-9, 10):
        d.line([xy(0, tick), xy(x1, tick)], fill=(225, 225, 225))
        d.text((left - 8, xy(0, tick)[1]), f"{tick:.0f}", fill="black", font=font, anchor="rm")
    for tick in _step_ticks(x1):
        d.text((xy(tick, y0)[0], top + plot_h + 6), f"{tick:g}", fill="black", font=font, anchor="ma")
    d.line([(left, top), (left, top + plot_h), (left + plot_w, top + plot_h)], fill="black")
    d.text((left + plot_w / 2, top + plot_h + 24), "optimiser step", fill="black", font=font, anchor="ma")
    # "min-max" with a hyphen: Pillow's default font has no en dash.
    d.text((left, 12), f"{report['data']}: validation accuracy (%) per set, mean over its cells, band min-max, "
           "dot at the best step", fill="black", font=font)
    # Bands first, blended onto the grid, so that no band hides another set's line.
    bands = Image.new("RGBA", img.size, (0, 0, 0, 0))
    b = ImageDraw.Draw(bands)
    for i, (_, c) in enumerate(curves):
        if len(c["steps"]) > 1:
            outline = [xy(s, v) for s, v in zip(c["steps"], c["high"], strict=True)]
            outline += [xy(s, v) for s, v in reversed(list(zip(c["steps"], c["low"], strict=True)))]
            b.polygon(outline, fill=(*_PALETTE[i % len(_PALETTE)], 40))
    img = Image.alpha_composite(img.convert("RGBA"), bands).convert("RGB")
    d = ImageDraw.Draw(img)
    for i, (name, c) in enumerate(curves):
        colour = _PALETTE[i % len(_PALETTE)]
        points = [xy(s, v) for s, v in zip(c["steps"], c["mean"], strict=True)]
        if len(points) > 1:
            d.line(points, fill=colour, width=2)
        bx, by = xy(c["best_step"], c["mean"][c["steps"].index(c["best_step"])])
        d.ellipse([bx - 4, by - 4, bx + 4, by + 4], fill=colour, outline="black")
        ly = top + 16 * i
        d.line([(left + plot_w + 16, ly + 6), (left + plot_w + 36, ly + 6)], fill=colour, width=3)
        d.text((left + plot_w + 42, ly), f"{name} (best {c['best_step']})", fill="black", font=font)
    return img


def _step_ticks(last: int) -> list[float]:
    """About five round step ticks from 0 to ``last``."""
    raw = last / 5
    unit = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * unit for m in (1, 2, 5, 10) if m * unit >= raw)
    return [float(t) for t in np.arange(0, last + 1e-9, step)]


def render_sample_grid(dataset: Dataset, generated: GeneratedSet, name: str, per_row: int = 8) -> Image.Image:
    """Per class: a row of real training images, then a row of generated images whose arg-max label is it."""
    font = ImageFont.load_default()
    probs = generated.probs()
    hard = probs.argmax(1)
    cell = max(48, dataset.image_size)
    label_w = 170
    rows: list[tuple[str, list[np.ndarray]]] = []
    for c, cls in enumerate(dataset.classes):
        real = dataset.train.images[dataset.train.labels == c][:per_row]
        rows.append((f"real {cls}", list(real)))
        index = np.flatnonzero(hard == c)[:per_row]
        images = [np.asarray(Image.open(generated.directory / generated.records[i]["file"]).convert("RGB"))
                  for i in index]
        rows.append((f"{name} {cls}", images))
    img = Image.new("RGB", (label_w + per_row * (cell + 2), len(rows) * (cell + 2)), "white")
    d = ImageDraw.Draw(img)
    for r, (label, images) in enumerate(rows):
        d.text((6, r * (cell + 2) + cell / 2), label, fill="black", font=font, anchor="lm")
        for i, im in enumerate(images):
            tile = Image.fromarray(im).resize((cell, cell), Image.NEAREST)
            img.paste(tile, (label_w + i * (cell + 2), r * (cell + 2)))
    return img


def write_report(out: Path, report: dict[str, Any], *, dataset: Dataset, generated: dict[str, GeneratedSet]) -> None:
    """``generated`` holds each generator's largest set, shown as its sample grid."""
    for name, gen_set in generated.items():
        atomic.write_bytes(out / "samples" / f"{name}.png", png_bytes(render_sample_grid(dataset, gen_set, name)))
    atomic.write_bytes(out / "chart.png", png_bytes(render_chart(report)))
    curves = render_val_curves(report)
    if curves is not None:
        atomic.write_bytes(out / "val_curves.png", png_bytes(curves))
    else:  # report.md links no curves then: do not leave an earlier run's picture beside it
        (out / "val_curves.png").unlink(missing_ok=True)
    atomic.write_json(out / "report.json", report)
    atomic.write_text(out / "report.md", render_markdown(report, sorted(generated)))

