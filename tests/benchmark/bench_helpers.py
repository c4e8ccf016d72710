"""A test-local generator and dataset, registered through pluggy exactly as a third-party plugin would be."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from augdiff import plugins
from augdiff.data.spec import DataOptions, Dataset, DatasetSpec, Split
from augdiff.generator import Generator, Samples, one_hot
from augdiff.hookspecs import hookimpl
from augdiff.progress import NullReporter, Reporter
from augdiff.seeding import numpy_rng

CLASSES = ["normal", "tumor"]


def tiny_split(name: str, per_class: int, size: int, seed: int) -> Split:
    """Class 0 dark, class 1 bright, with noise: separable, so a few optimiser steps learn it."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(2), per_class)
    base = np.where(labels == 1, 170, 80)[:, None, None, None]
    images = np.clip(base + rng.normal(0, 25, (len(labels), size, size, 3)), 0, 255).astype(np.uint8)
    return Split(name, CLASSES, images, labels.astype(np.int64), [f"{name}/{i}" for i in range(len(labels))])


def load_tiny(options: DataOptions) -> Dataset:
    size = options.size or 16
    per_class = min(options.train_per_class, 12)
    splits = {"train": tiny_split("train", per_class, size, 1), "val": tiny_split("val", 8, size, 2),
              "test": tiny_split("test", 10, size, 3)}
    return Dataset("tiny-data", CLASSES, splits)


class TinyGen(Generator):
    """Draws per-class mean colours plus noise: fast, deterministic, and counts its calls."""

    name = "tiny-gen"
    # mislabel: the share of each class's images labelled as the other class (a generator with wrong labels).
    profiles = {p: {"image_size": 8, "noise": 10.0, "mislabel": 0.0} for p in ("smoke", "cpu", "paper")}
    generate_calls = 0

    def __init__(self, config, classes):
        super().__init__(config, classes)
        self.means: list[float] = []

    def fit(self, train_set: Split, workdir: Path, *, seed: int, progress: Reporter = NullReporter()) -> None:
        self.means = [float(train_set.images[train_set.labels == c].mean()) for c in range(len(self.classes))]

    def generate(self, n, *, cls=None, seed=0, progress=NullReporter()) -> Samples:
        type(self).generate_calls += 1
        rng = numpy_rng(seed, "tiny")
        parts = []
        for c, k in self.split_counts(n, cls):
            size = self.config["image_size"]
            img = np.clip(self.means[c] + rng.normal(0, self.config["noise"], (k, size, size, 3)), 0, 255)
            labels = np.full(k, c)
            labels[: round(k * self.config.get("mislabel", 0.0))] = 1 - c
            parts.append(Samples(img.astype(np.uint8), one_hot(labels, len(self.classes)),
                                 [{"source": f"mean-{c}"} for _ in range(k)]))
        return Samples.concat(parts)

    def save(self, directory: Path) -> None:
        super().save(directory)
        (Path(directory) / "means.json").write_text(json.dumps(self.means))

    @classmethod
    def load(cls, directory: Path) -> TinyGen:
        model = super().load(directory)
        model.means = json.loads((Path(directory) / "means.json").read_text())
        return model


class _TinyPlugin:
    @hookimpl
    def register_generators(self, register):
        register(TinyGen)

    @hookimpl
    def register_datasets(self, register):
        register(DatasetSpec("tiny-data", load_tiny, "test-local dataset"))


def register_tiny_plugin():
    """Register the plugin; returns a callable that unregisters it."""
    plugins.load_plugins()
    name = "test-tiny-plugin"
    plugins.pm.register(_TinyPlugin(), name=name)
    TinyGen.generate_calls = 0
    return lambda: plugins.pm.unregister(name=name)
