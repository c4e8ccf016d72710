"""Build the named training sets of the ADD paper's comparison from the real training split and generated sets.

A *recipe* says what goes into a set: the real training images or not, and how many generated ones (per class,
or in total). Recipes are plain data in ``RECIPES``; ``register_recipe`` adds one. The built-in ones follow the
ADD paper §3.3 and its Table 2:

- ``real``: the real training split alone (the baseline);
- ``synthetic``: N generated images per class and no real ones (Supplementary Table 1);
- ``mixed``: the real split plus N generated per class (Supplementary Table 2: 500 real + 500 generated);
- ``aug-5000``: the real split plus 5000 generated images (Table 2);
- ``progressive``: the real split plus ADD-Pro's 5000 progressive soft-labelled images (Table 2, "ADD-Pro").

N defaults to the real count per class. Every sample carries a probability vector (one-hot for real images and
for plain generators; soft for progressive ones), and a set's manifest lists exactly what went in.

The generated sets themselves come from ``workflow.augment`` (see :mod:`augdiff.benchmark.protocol`): made once per
request (fit, sampling config, N, seed), chunk by chunk, and reused by every later benchmark with the same request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from augdiff import atomic
from augdiff.classify.mixing import BatchMix
from augdiff.classify.randaugment import randaugment_transform
from augdiff.classify.stain import StainStats, stain_transform
from augdiff.classify.train import TrainingExtras
from augdiff.data.spec import Split
from augdiff.errors import AugdiffError
from augdiff.generated_set import pixel_hash
from augdiff.generator import GeneratedSet, one_hot
from augdiff.metrics import artefacts
from augdiff.pictures import resize_images

BASELINE = "real"
PROGRESSIVE_GENERATOR = "add-pro"


@dataclass(frozen=True)
class Recipe:
    """What a training set is made of.

    ``generated``: "none", "per_class" (``count`` per class; None = the real count per class) or "total"
    (``count`` images spread over classes by the generator). ``only``/``exclude`` restrict which generators the
    recipe applies to (``progressive`` exists only for ``add-pro``, whose samples are progressive by design).
    """

    name: str
    description: str
    real: bool
    generated: Literal["none", "per_class", "total"] = "none"
    count: int | None = None
    only: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    training: str | None = None  # a classifier-side baseline applied while training (``TRAINING_METHODS``)

    def __post_init__(self) -> None:
        if self.generated == "total" and not self.count:
            raise ValueError(f"recipe {self.name}: a 'total' recipe needs a count")
        if not self.real and self.generated == "none":
            raise ValueError(f"recipe {self.name}: a set needs real or generated images")

    @property
    def uses_generator(self) -> bool:
        return self.generated != "none"

    def applies_to(self, generator: str) -> bool:
        if not self.uses_generator or generator in self.exclude:
            return False
        return self.only is None or generator in self.only

    def generated_total(self, real_counts: dict[str, int]) -> int:
        """How many images this recipe needs from a generator, for a real split with ``real_counts``."""
        if self.generated == "none":
            return 0
        if self.generated == "total":
            return int(self.count or 0)
        # Default N: the real count per class (the paper's splits are balanced, 500 each); the smallest class
        # when they are not, so that no class of the generated part outnumbers its real counterpart.
        per_class = self.count if self.count is not None else min(real_counts.values())
        return per_class * len(real_counts)


RECIPES: dict[str, Recipe] = {}


def register_recipe(recipe: Recipe, *, replace: bool = False) -> Recipe:
    if recipe.name in RECIPES and not replace:
        raise AugdiffError(f"recipe '{recipe.name}' already exists; pass replace=True to redefine it")
    RECIPES[recipe.name] = recipe
    return recipe


for _recipe in (
    Recipe(BASELINE, "real training split only (baseline)", real=True),
    Recipe("synthetic", "N generated per class, no real images", real=False, generated="per_class",
           exclude=(PROGRESSIVE_GENERATOR,)),
    Recipe("mixed", "real + N generated per class (N = real per class)", real=True, generated="per_class",
           exclude=(PROGRESSIVE_GENERATOR,)),
    Recipe("aug-5000", "real + 5000 generated", real=True, generated="total", count=5000,
           exclude=(PROGRESSIVE_GENERATOR,)),
    Recipe("progressive", "real + 5000 progressive soft-labelled (ADD-Pro)", real=True, generated="total",
           count=5000, only=(PROGRESSIVE_GENERATOR,)),
    # What practitioners try before any generator (docs/baselines.md): no generated images, a training method.
    Recipe("mixup", "real, Mixup of every batch (Zhang et al. 2018, α = 0.2)", real=True, training="mixup"),
    Recipe("cutmix", "real, CutMix of every batch (Yun et al. 2019, α = 1)", real=True, training="cutmix"),
    Recipe("randaugment", "real, H&E RandAugment N=2 M=9 (Faryna et al. 2021)", real=True,
           training="randaugment"),
    Recipe("stain", "real, RandStainNA + HED jitter (Shen et al. 2022)", real=True, training="stain"),
):
    register_recipe(_recipe)


def training_extras(recipe: Recipe, real: Split) -> TrainingExtras | None:
    """The training-loop additions of a classifier-side baseline; stain statistics come from the real split only."""
    if recipe.training is None:
        return None
    if recipe.training in ("mixup", "cutmix"):
        return TrainingExtras(batch_mix=BatchMix(recipe.training))
    if recipe.training == "randaugment":
        return TrainingExtras(augment=randaugment_transform)
    if recipe.training == "stain":
        stats = StainStats.fit(real.images)
        return TrainingExtras(augment=lambda seed: stain_transform(seed, stats))
    raise AugdiffError(f"recipe {recipe.name}: unknown training method '{recipe.training}'; "
                       "choose mixup, cutmix, randaugment or stain")


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise AugdiffError(f"--sets: unknown set recipe '{name}'; known: {', '.join(RECIPES)}")
    return RECIPES[name]


@dataclass(frozen=True)
class SetPlan:
    """One training set to build: a recipe, with the generator row it draws from (None for real-only sets).

    ``generator`` names the row: an installed generator, or a variant of one (``--variant``), whose installed
    generator is then ``source``.
    """

    recipe: Recipe
    generator: str | None
    source: str | None = None  # the installed generator of a variant row; None: ``generator`` itself

    @property
    def installed(self) -> str | None:
        """The installed generator that makes this set's images."""
        return self.source or self.generator

    @property
    def name(self) -> str:
        return self.recipe.name if self.generator is None else f"{self.generator}/{self.recipe.name}"

    @property
    def slug(self) -> str:
        return self.name.replace("/", "__")


def plan_sets(
    recipes: list[str] | None, generators: list[str], sources: dict[str, str] | None = None
) -> list[SetPlan]:
    """Every applicable (recipe, generator) pair; the baseline always comes first (the paired reference).

    ``sources`` maps a variant row to its installed generator, which decides the recipes that apply to it.
    """
    sources = sources or {}
    chosen = [get_recipe(r) for r in (recipes or list(RECIPES))]
    plans = [SetPlan(RECIPES[BASELINE], None)]
    for recipe in chosen:
        if recipe.name == BASELINE:
            continue
        if not recipe.uses_generator:
            plans.append(SetPlan(recipe, None))
            continue
        plans.extend(SetPlan(recipe, g, sources.get(g)) for g in generators if recipe.applies_to(sources.get(g, g)))
    return plans


# (images, labels) → (keep mask, labels to train on): a filter and/or relabelling of the generated part.
LabelRule = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


# -- training sets ----------------------------------------------------------------------------------------------
@dataclass
class TrainingSet:
    name: str
    classes: list[str]
    images: np.ndarray  # uint8 (N, H, W, 3)
    probs: np.ndarray  # float32 (N, C)
    records: list[dict[str, Any]] = field(default_factory=list)  # one manifest row per image
    filtered: int = 0  # generated images left out by the artefact filter

    def __len__(self) -> int:
        return len(self.images)

    @property
    def real_mask(self) -> np.ndarray:
        return np.array([r["origin"] == "real" for r in self.records], dtype=bool)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(repr((self.name, self.classes, self.images.shape)).encode())
        h.update(np.ascontiguousarray(self.images).tobytes())
        h.update(np.ascontiguousarray(self.probs, dtype=np.float32).tobytes())
        return h.hexdigest()[:16]

    def composition(self) -> dict[str, Any]:
        origin = [r["origin"] for r in self.records]
        hard = self.probs.argmax(1)
        return {
            "size": len(self),
            "real": origin.count("real"),
            "generated": origin.count("generated"),
            "distinct": self.distinct_generated(),
            "per_class": {c: int((hard == i).sum()) for i, c in enumerate(self.classes)},
            "soft": int(((self.probs > 0) & (self.probs < 1)).any(1).sum()),
            "filtered": self.filtered,
        }

    def distinct_generated(self) -> int:
        """How many different images the generated part holds (equal pixel hashes are one image)."""
        return len({r["pixels"] for r in self.records if r["origin"] == "generated"})

    def write_manifest(self, path: Path) -> None:
        atomic.write_text(path, "".join(json.dumps(r) + "\n" for r in self.records))


def build_set(
    plan: SetPlan, real: Split, generated: GeneratedSet | None = None, *, drop_artefacts: bool = False,
    teacher: LabelRule | None = None,
) -> TrainingSet:
    """Assemble ``plan`` from the real training split and (when the recipe needs one) a generated set.

    Generated images are resized to the real images' size when the generator worked at another resolution.
    ``drop_artefacts`` leaves out generated images whose artefact statistic lies outside the real split's range
    (:mod:`augdiff.metrics.artefacts`); ``teacher`` maps (images, labels) to (keep mask, labels), e.g. a real-data
    classifier's filter or relabelling (:mod:`augdiff.benchmark.teacher`). The composition counts what both
    left out as ``filtered``.
    """
    recipe = plan.recipe
    images: list[np.ndarray] = []
    probs: list[np.ndarray] = []
    records: list[dict[str, Any]] = []
    if recipe.real:
        real_probs = one_hot(real.labels, len(real.classes))
        images.append(real.images)
        probs.append(real_probs)
        records += [{"origin": "real", "split": real.name, "id": i, "probs": _probs_dict(real.classes, p)}
                    for i, p in zip(real.ids, real_probs, strict=True)]
    if recipe.uses_generator:
        if generated is None:
            raise ValueError(f"set {plan.name} needs a generated set")
        if generated.classes != real.classes:
            raise AugdiffError(
                f"{generated.directory}: its classes {generated.classes} differ from the data's {real.classes}"
            )
        chosen = _select(recipe, generated, real)
        raw = generated.images(chosen)
        # The manifest's hash of each image as generated; computed here for sets made before manifests had one.
        hashes = np.array([generated.records[i].get("pixels") or pixel_hash(img)
                           for i, img in zip(chosen, raw, strict=True)], dtype=object)
        gen_images = resize_images(raw, real.image_size)
        filtered = 0
        if drop_artefacts:
            keep = ~artefacts.flags(gen_images, real.images)
            filtered = int((~keep).sum())
            chosen, gen_images, hashes = chosen[keep], gen_images[keep], hashes[keep]
        gen_probs = generated.probs()[chosen]
        relabelled = False
        if teacher is not None:
            keep, new_probs = teacher(gen_images, gen_probs)
            relabelled = new_probs is not gen_probs
            filtered += int((~keep).sum())
            chosen, gen_images, hashes, gen_probs = chosen[keep], gen_images[keep], hashes[keep], new_probs[keep]
        images.append(gen_images)
        probs.append(gen_probs)
        for i, p, digest in zip(chosen, gen_probs, hashes, strict=True):
            rec = generated.records[i]
            records.append({"origin": "generated", "generator": rec.get("generator"), "seed": rec.get("seed"),
                            "file": str(generated.directory / rec["file"]), "pixels": digest,
                            "probs": _probs_dict(real.classes, p),
                            **({"label_from": "teacher"} if relabelled else {}),
                            **{k: rec[k] for k in ("source", "level", "level_requested") if k in rec}})
    else:
        filtered = 0
    return TrainingSet(plan.name, list(real.classes), np.concatenate(images), np.concatenate(probs).astype(
        np.float32), records, filtered=filtered)


def _probs_dict(classes: list[str], p: np.ndarray) -> dict[str, float]:
    return {c: round(float(v), 6) for c, v in zip(classes, p, strict=True)}


def missing_classes(recipe: Recipe, generated: GeneratedSet | None) -> list[str]:
    """Classes a per-class recipe needs that the generated set has no (arg-max) image of."""
    if generated is None or recipe.generated != "per_class":
        return []
    present = set(generated.probs().argmax(1).tolist())
    return [c for i, c in enumerate(generated.classes) if i not in present]


def _select(recipe: Recipe, generated: GeneratedSet, real: Split) -> np.ndarray:
    """Indices of the generated records the recipe uses: the first N of each (arg-max) class, or the first M."""
    need = recipe.generated_total(real.counts())
    if len(generated) < need:
        raise AugdiffError(f"{generated.directory}: holds {len(generated)} images, recipe {recipe.name} needs {need}")
    if recipe.generated == "total":
        return np.arange(need)
    per_class = need // len(real.classes)
    hard = generated.probs().argmax(1)
    chosen = []
    for c, name in enumerate(real.classes):
        of_class = np.flatnonzero(hard == c)
        if len(of_class) < per_class:
            raise AugdiffError(
                f"{generated.directory}: only {len(of_class)} images of class {name}, recipe {recipe.name} needs "
                f"{per_class}; delete the folder to regenerate it"
            )
        chosen.append(of_class[:per_class])
    return np.concatenate(chosen)
