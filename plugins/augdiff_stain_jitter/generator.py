"""Jittered copies of training images: flips, 90° rotations, H&E stain and colour jitter (albumentations).

``fit`` measures how much colour varies between the training images and sizes the brightness/contrast jitter
to that spread, so the augmentation stays inside the staining variation the lab actually produces.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np

from augdiff.data.spec import Split
from augdiff.errors import AugdiffError
from augdiff.generator import Generator, Samples, one_hot
from augdiff.progress import NullReporter, Reporter
from augdiff.seeding import derive_seed, numpy_rng

_COMMON = {
    "stain_method": "random_preset",  # albumentations' HEStain presets: no per-image stain estimation needed
    "stain_scale": [0.8, 1.2],
    "stain_shift": [-0.1, 0.1],
    "jitter_scale": 2.0,  # brightness/contrast limits = this many standard deviations of the training spread
    "hue": 0.03,
    "saturation": 0.1,
    "p_stain": 0.8,
    "p_color": 0.8,
}


class StainJitter(Generator):
    name = "stain-jitter"
    description = "Classical baseline: flips, 90° rotations, H&E stain and colour jitter of real images."
    profiles = {
        "smoke": {"image_size": 16, **_COMMON},
        "cpu": {"image_size": 32, **_COMMON},
        "paper": {"image_size": None, **_COMMON},
    }

    def __init__(self, config: dict[str, Any], classes: list[str]) -> None:
        super().__init__(config, classes)
        self.images: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.ids: list[str] = []
        self.stats: dict[str, Any] = {}

    def fit(self, train_set: Split, workdir: Path, *, seed: int, progress: Reporter = NullReporter()) -> None:
        if len(train_set) == 0:
            raise AugdiffError("stain-jitter: the training split is empty")
        self.images, self.labels, self.ids = train_set.images, train_set.labels, list(train_set.ids)
        self.stats = colour_statistics(train_set.images)

    def _pipeline(self, seed: int) -> A.Compose:
        c, s = self.config, self.stats
        brightness = min(0.5, c["jitter_scale"] * s["brightness_cv"])
        contrast = min(0.5, c["jitter_scale"] * s["contrast_cv"])
        return A.Compose(
            [
                A.HorizontalFlip(p=0.5),
                A.VerticalFlip(p=0.5),
                A.RandomRotate90(p=1.0),
                A.HEStain(method=c["stain_method"], intensity_scale_range=tuple(c["stain_scale"]),
                          intensity_shift_range=tuple(c["stain_shift"]), p=c["p_stain"]),
                A.ColorJitter(brightness=brightness, contrast=contrast, saturation=c["saturation"],
                              hue=c["hue"], p=c["p_color"]),
            ],
            seed=seed % (1 << 32),
        )

    def generate(
        self, n: int, *, cls: int | None = None, seed: int = 0, progress: Reporter = NullReporter()
    ) -> Samples:
        if self.images is None or self.labels is None:
            raise AugdiffError("stain-jitter: not fitted; run `augdiff fit stain-jitter` first")
        pipeline = self._pipeline(derive_seed(seed, "stain-jitter", "albumentations"))
        rng = numpy_rng(seed, "stain-jitter", "sources")
        out, labels, meta = [], [], []
        with progress.task("stain-jitter", n) as task:
            for c, count in self.split_counts(n, cls):
                pool = np.flatnonzero(self.labels == c)
                if len(pool) == 0:
                    raise AugdiffError(f"stain-jitter: no training images of class '{self.classes[c]}'")
                # Cycle through a shuffled pool so every source is used as evenly as possible.
                order = np.concatenate([rng.permutation(pool) for _ in range(-(-count // len(pool)))])[:count]
                for i in order:
                    out.append(pipeline(image=self.images[i])["image"])
                    labels.append(c)
                    meta.append({"source": self.ids[i]})
                    task.advance(1)
        return Samples(np.stack(out).astype(np.uint8), one_hot(labels, len(self.classes)), meta)

    def save(self, directory: Path) -> None:
        super().save(directory)
        np.savez_compressed(Path(directory) / "train.npz", images=self.images, labels=self.labels,
                            ids=np.array(self.ids))
        (Path(directory) / "colour_stats.json").write_text(json.dumps(self.stats, indent=2))

    @classmethod
    def load(cls, directory: Path) -> StainJitter:
        model = super().load(directory)
        assert isinstance(model, StainJitter)
        with np.load(Path(directory) / "train.npz") as data:
            model.images, model.labels, model.ids = data["images"], data["labels"], [str(i) for i in data["ids"]]
        model.stats = json.loads((Path(directory) / "colour_stats.json").read_text())
        return model


def colour_statistics(images: np.ndarray) -> dict[str, Any]:
    """Per-channel means and the between-image spread of brightness and contrast."""
    x = images.astype(np.float32) / 255.0
    per_image_mean = x.mean(axis=(1, 2))  # (N, 3)
    luminance = per_image_mean @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    contrast = x.std(axis=(1, 2, 3))
    return {
        "channel_mean": per_image_mean.mean(0).round(5).tolist(),
        "channel_std": x.std(axis=(0, 1, 2)).round(5).tolist(),
        "brightness_cv": float(luminance.std() / max(luminance.mean(), 1e-6)),
        "contrast_cv": float(contrast.std() / max(contrast.mean(), 1e-6)),
        "n_images": len(images),
    }
