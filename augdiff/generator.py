"""The generator contract every plugin implements, and the on-disk format of a generated set.

A generated set is ``DIR/images/*.png`` plus ``DIR/manifest.jsonl``: one JSON object per image with its file,
its class probabilities, the generator, the seed, and (where they apply) the source image and progression level.
"""

from __future__ import annotations

import copy
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from augdiff import atomic
from augdiff.data.spec import Split
from augdiff.errors import AugdiffError
from augdiff.progress import NullReporter, Reporter

PROFILES = ("smoke", "cpu", "paper")
CONFIG_FILE = "config.json"


@dataclass
class Samples:
    """What ``generate`` returns: images, a probability vector per image, and per-image provenance."""

    images: np.ndarray  # uint8 (N, H, W, 3)
    probs: np.ndarray  # float32 (N, C); each row sums to 1
    meta: list[dict[str, Any]] = field(default_factory=list)  # e.g. {"source": id, "level": 0.3}

    def __post_init__(self) -> None:
        if not self.meta:
            self.meta = [{} for _ in range(len(self.images))]
        if not (len(self.images) == len(self.probs) == len(self.meta)):
            raise ValueError("images, probs and meta must have one entry per image")

    def __len__(self) -> int:
        return len(self.images)

    @staticmethod
    def concat(parts: Sequence[Samples]) -> Samples:
        return Samples(
            np.concatenate([p.images for p in parts]),
            np.concatenate([p.probs for p in parts]),
            [m for p in parts for m in p.meta],
        )


def slug(name: str) -> str:
    """A class or model name made safe for a file name ("type 1/a" -> "type_1_a")."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "class"


def even_split(n: int, k: int) -> list[int]:
    """``n`` items over ``k`` parts as evenly as possible, the first parts taking the remainder."""
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def one_hot(labels: np.ndarray | Sequence[int], num_classes: int) -> np.ndarray:
    return np.eye(num_classes, dtype=np.float32)[np.asarray(labels, dtype=np.int64)]


class Generator(ABC):
    """Base class for generator plugins.

    Subclasses set ``name``, ``profiles`` (one JSON-serialisable config per profile) and implement ``fit`` and
    ``generate``. ``fit`` must resume from the last checkpoint it finds in ``workdir``.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    profiles: ClassVar[dict[str, dict[str, Any]]]
    # Generators that share fitted state register the name they fit under: ``add-pro`` uses ``add``'s models.
    fit_name: ClassVar[str | None] = None
    # Config keys that only affect sampling (e.g. ``sample_steps``): changing them never triggers a new fit.
    sampling_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: dict[str, Any], classes: Sequence[str]) -> None:
        self.config = copy.deepcopy(config)
        self.classes = list(classes)

    # -- configuration -------------------------------------------------------------------------------------
    @classmethod
    def default_config(cls, profile: str) -> dict[str, Any]:
        if profile not in cls.profiles:
            raise AugdiffError(
                f"--profile: generator '{cls.name}' has no profile '{profile}'; choose one of "
                f"{', '.join(cls.profiles)}"
            )
        return copy.deepcopy(cls.profiles[profile])

    @classmethod
    def from_profile(
        cls, profile: str, classes: Sequence[str], overrides: dict[str, Any] | None = None
    ) -> Generator:
        config = cls.default_config(profile)
        for key, value in (overrides or {}).items():
            if key not in config:
                raise AugdiffError(
                    f"--set {key}: generator '{cls.name}' has no option '{key}'; its options: {', '.join(config)}"
                )
            config[key] = value
        return cls(config, classes)

    def option_error(self, key: str, why: str) -> AugdiffError:
        """The one-line error for a bad config value, phrased as the ``--set`` the user gave."""
        return AugdiffError(f"--set {key}={self.config.get(key)!r}: {why}")

    @classmethod
    def fitted_under(cls) -> str:
        return cls.fit_name or cls.name

    def fit_config(self) -> dict[str, Any]:
        """The part of the config that determines the fitted weights."""
        return {k: v for k, v in self.config.items() if k not in self.sampling_options}

    @property
    def image_size(self) -> int | None:
        return self.config.get("image_size")

    # -- the contract --------------------------------------------------------------------------------------
    @abstractmethod
    def fit(self, train_set: Split, workdir: Path, *, seed: int, progress: Reporter = NullReporter()) -> None:
        """Train on ``train_set``; checkpoints go to ``workdir`` and a re-run continues from the last one."""

    @abstractmethod
    def generate(
        self, n: int, *, cls: int | None = None, seed: int = 0, progress: Reporter = NullReporter()
    ) -> Samples:
        """Draw ``n`` images (of class ``cls`` when given, else spread over classes)."""

    def label(self, images: np.ndarray, *, cls: int | None = None) -> np.ndarray:
        """The generator's own soft labels for ``images``; one-hot of ``cls`` where it has nothing better."""
        if cls is None:
            raise AugdiffError(f"generator '{self.name}' has no labelling model of its own: pass the class")
        return one_hot([cls] * len(images), len(self.classes))

    def save(self, directory: Path) -> None:
        """Write config and weights; subclasses add their weights after calling this."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        atomic.write_json(
            directory / CONFIG_FILE, {"generator": self.name, "classes": self.classes, "config": self.config}
        )

    @classmethod
    def load(cls, directory: Path) -> Generator:
        """Rebuild from ``save``'s output; subclasses load their weights after calling this."""
        path = Path(directory) / CONFIG_FILE
        if not path.is_file():
            raise AugdiffError(f"{path}: no saved generator here; run `augdiff fit {cls.name}` first")
        saved = json.loads(path.read_text())
        return cls(saved["config"], saved["classes"])

    def split_counts(self, n: int, cls: int | None) -> list[tuple[int, int]]:
        """(class, count) pairs: all ``n`` of ``cls``, or ``n`` spread as evenly as possible over classes."""
        if cls is not None:
            return [(cls, n)]
        return [(c, m) for c, m in enumerate(even_split(n, len(self.classes))) if m]


# -- generated sets on disk --------------------------------------------------------------------------------
MANIFEST = "manifest.jsonl"


@dataclass
class GeneratedSet:
    directory: Path
    classes: list[str]
    records: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.records)

    def probs(self) -> np.ndarray:
        return np.array([[r["probs"][c] for c in self.classes] for r in self.records], dtype=np.float32)

    def image(self, i: int) -> np.ndarray:
        return np.asarray(Image.open(self.directory / self.records[i]["file"]).convert("RGB"))

    def images(self, index: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """All images, or those at ``index``, as uint8 NHWC."""
        return np.stack([self.image(i) for i in (range(len(self.records)) if index is None else index)])


def write_generated_set(
    samples: Samples,
    out_dir: Path,
    *,
    classes: Sequence[str],
    generator: str,
    seed: int,
    extra_files: dict[str, bytes] | None = None,
) -> GeneratedSet:
    """Write PNGs and the manifest into a temporary folder and move it to ``out_dir`` only when complete."""
    out_dir = Path(out_dir)
    records = []
    with atomic.atomic_dir(out_dir) as tmp:
        (tmp / "images").mkdir()
        for i, (img, prob, meta) in enumerate(zip(samples.images, samples.probs, samples.meta)):
            name = f"images/{generator}_{i:06d}.png"
            Image.fromarray(np.ascontiguousarray(img)).save(tmp / name)
            record = {
                "file": name,
                "probs": {c: round(float(p), 6) for c, p in zip(classes, prob)},
                "generator": generator,
                "seed": seed,
                **meta,
            }
            records.append(record)
        (tmp / MANIFEST).write_text("".join(json.dumps(r) + "\n" for r in records))
        for name, data in (extra_files or {}).items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(data)
    return GeneratedSet(out_dir, list(classes), records)


def read_generated_set(directory: Path) -> GeneratedSet:
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise AugdiffError(f"{path}: not a generated set (no {MANIFEST}); create one with `augdiff augment`")
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not records:
        raise AugdiffError(f"{path}: the manifest is empty")
    classes = list(records[0]["probs"])
    return GeneratedSet(directory, classes, records)
