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

from augdiff import atomic
from augdiff.data.spec import Split
from augdiff.errors import AugdiffError
from augdiff.generated_set import MANIFEST, Chunk, GeneratedSet, read_generated_set, write_generated_set
from augdiff.progress import NullReporter, Reporter, note
from augdiff.seeding import derive_seed

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


def _kind_of(value: Any) -> Any:
    """The kind a config value asks of overrides: its type, or (list, element kind) for a uniform list."""
    if isinstance(value, list):
        elements = {_kind_of(v) for v in value if v is not None}
        if elements == {int, float}:
            elements = {float}
        if len(elements) == 1 and not isinstance(next(iter(elements)), tuple):
            return (list, elements.pop())
        return list
    return type(value)


def _has_kind(value: Any, kinds: tuple[Any, ...]) -> bool:
    return any(_is_kind(value, kind) for kind in kinds)


def _is_kind(value: Any, kind: Any) -> bool:
    if kind is None:
        return value is None
    if isinstance(kind, tuple):  # (list, element kind)
        return isinstance(value, list) and all(_is_kind(v, kind[1]) for v in value)
    if kind in (int, float) and isinstance(value, bool):
        return False  # JSON true is not a number here
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)  # int: 10.0 is not a step count; str: 5 is not a name


_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string", list: "a list",
          dict: "a JSON object", None: "null"}
_PLURAL = {int: "integers", float: "numbers", bool: "true/false values", str: "strings"}


def _describe(kinds: tuple[Any, ...]) -> str:
    words = [f"a list of {_PLURAL.get(k[1], 'values')}" if isinstance(k, tuple) else _WORDS.get(k, str(k))
             for k in kinds]
    return " or ".join(words)


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
    # What ``--set KEY=…`` accepts where the profiles' values do not say it all (see ``option_kinds``), e.g.
    # ``{"attention": (str, list)}`` or ``{"sample_steps": (int, None)}`` for a key that may also be null.
    option_types: ClassVar[dict[str, tuple[Any, ...]]] = {}
    # Config keys renamed since fits were saved, old name → current name. A saved config.json and ``--set`` (with a
    # note) still take the old name, and fits and generated sets are identified under it (``identity``), so a
    # rename never orphans a finished fit: its run id stays what it was.
    renamed_options: ClassVar[dict[str, str]] = {}
    # Options added after fits or sets were first written, at the value that reproduces what was made before they
    # existed: left out of the identity at that value, so those fits and sets keep their keys and are reused.
    introduced_options: ClassVar[dict[str, Any]] = {}
    # Options ``augdiff benchmark`` gives this generator before the user's ``--set GENERATOR.KEY=VALUE`` (which
    # still wins): where the generator's everyday default would make an unfair comparison, e.g. ``add`` translating
    # one way only, so that its per-class sets would lack a class. ``fit``/``augment`` never apply them; a subclass
    # inherits them unless it sets its own (``{}``: none).
    benchmark_overrides: ClassVar[dict[str, Any]] = {}
    # True when ``fit`` trains only through the shared ``Trainer`` (DDP-aware, rank 0 writes): ``augdiff fit`` then
    # splits over torchrun's processes. Other generators refuse torchrun instead of racing for one folder.
    distributed_fit: ClassVar[bool] = False

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
        checked = cls.check_overrides(profile, overrides)
        return cls.from_config({**cls.default_config(profile), **checked}, classes, checked)

    @classmethod
    def from_config(
        cls, config: dict[str, Any], classes: Sequence[str], overrides: dict[str, Any] | None = None
    ) -> Generator:
        """Build from a whole config; an error of the generator's own checks names the ``overrides`` given."""
        try:
            return cls(config, classes)
        except (TypeError, ValueError) as exc:
            # A value of the right type that the generator's own checks did not anticipate: still one line.
            if not overrides:
                raise
            given = " ".join(f"{k}={v!r}" for k, v in overrides.items())
            raise AugdiffError(
                f"--set {given}: generator '{cls.name}' cannot use this ({type(exc).__name__}: {exc})"
            ) from exc

    @classmethod
    def current_names(cls, config: dict[str, Any]) -> dict[str, Any]:
        """``config`` with every renamed key under its current name (a saved config.json, ``--set``)."""
        return {cls.renamed_options.get(k, k): v for k, v in config.items()}

    @classmethod
    def identity(cls, config: dict[str, Any]) -> dict[str, Any]:
        """``config`` under the key names that identify fits and sets: renamed keys under their old names, and
        introduced options at their reproducing value left out."""
        old = {new: old for old, new in cls.renamed_options.items()}
        introduced = cls.introduced_options
        return {old.get(k, k): v for k, v in config.items() if not (k in introduced and v == introduced[k])}

    @classmethod
    def check_overrides(cls, profile: str, overrides: dict[str, Any] | None) -> dict[str, Any]:
        """``overrides`` after checking each key exists and each value has the profile's type (before any work).

        A renamed key is taken under its current name, with a note naming it.
        """
        config = cls.default_config(profile)
        overrides = dict(overrides or {})
        for old, new in cls.renamed_options.items():
            if old in overrides:
                if new in overrides:
                    raise AugdiffError(f"--set {old} and --set {new}: {old} is the old name of {new}; give it once")
                note(f"--set {old}: generator '{cls.name}' now calls this option {new}; use --set {new}=…")
        overrides = cls.current_names(overrides)
        for key, value in overrides.items():
            if key not in config:
                raise AugdiffError(
                    f"--set {key}: generator '{cls.name}' has no option '{key}'; its options: {', '.join(config)}"
                )
            accepted = cls.option_kinds(key)
            if accepted is not None and not _has_kind(value, accepted):
                shown = json.dumps(config[key])
                raise cls._option_error(
                    key, value, f"expected {_describe(accepted)} (the {profile} profile's value is {shown})"
                )
        return overrides

    @classmethod
    def option_kinds(cls, key: str) -> tuple[Any, ...] | None:
        """What ``--set key=…`` accepts: ``option_types[key]`` when declared, else inferred from the profiles.

        A kind is a type (``int``, ``float``, ``bool``, ``str``, ``list``), ``None`` (JSON null), or
        ``(list, kind)`` for a list whose elements must be of that kind. ``None`` (no answer) accepts anything.
        """
        if key in cls.option_types:
            return cls.option_types[key]
        values = [p[key] for p in cls.profiles.values() if key in p]
        kinds: list[Any] = []
        for value in values:
            kind = None if value is None else _kind_of(value)
            if kind not in kinds:
                kinds.append(kind)
        if not kinds or kinds == [None]:
            return None  # null in every profile: nothing to infer a type from
        # int and float values of one key (0 in one profile, 0.5 in another) both mean "a number".
        if int in kinds and float in kinds:
            kinds.remove(int)
        return tuple(kinds)

    @classmethod
    def _option_error(cls, key: str, value: Any, why: str) -> AugdiffError:
        return AugdiffError(f"--set {key}={value!r}: {why}")

    def option_error(self, key: str, why: str) -> AugdiffError:
        """The one-line error for a bad config value, phrased as the ``--set`` the user gave."""
        return self._option_error(key, self.config.get(key), why)

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
        return cls(cls.current_names(saved["config"]), saved["classes"])

    def split_counts(self, n: int, cls: int | None) -> list[tuple[int, int]]:
        """(class, count) pairs: all ``n`` of ``cls``, or ``n`` spread as evenly as possible over classes."""
        if cls is not None:
            return [(cls, n)]
        return [(c, m) for c, m in enumerate(even_split(n, len(self.classes))) if m]

    # -- generated sets: chunks and their files ---------------------------------------------------------
    # Images per chunk: a chunk is the unit an interrupted ``augment`` resumes from.
    chunk_size: ClassVar[int] = 256

    def plan_chunks(self, n: int, *, cls: int | None = None, seed: int = 0) -> list[Chunk]:
        """Split a request into independently reproducible chunks; the default draws each from its own seed."""
        sizes = [self.chunk_size] * (n // self.chunk_size) + ([n % self.chunk_size] if n % self.chunk_size else [])
        return [Chunk(i, m, cls, seed if len(sizes) == 1 else derive_seed(seed, "chunk", i))
                for i, m in enumerate(sizes)]

    def generate_chunk(self, chunk: Chunk, *, progress: Reporter = NullReporter()) -> Samples:
        return self.generate(chunk.n, cls=chunk.cls, seed=chunk.seed, progress=progress)

    def extra_files(self, samples: Samples) -> dict[str, bytes]:
        """Files written beside one chunk's images (e.g. per-source strips), by path inside the set folder."""
        return {}

    def summary_files(self, generated: GeneratedSet) -> dict[str, bytes]:
        """Files made once the whole set is on disk (e.g. a contact sheet), by path inside the set folder."""
        return {}


# The on-disk format lives in augdiff.generated_set; these names stay importable from here.
__all__ = ["MANIFEST", "Chunk", "GeneratedSet", "Generator", "Samples", "read_generated_set", "write_generated_set"]
