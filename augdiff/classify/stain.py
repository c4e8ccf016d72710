"""Stain-colour augmentation for the classifier: HED jitter and RandStainNA-style random stain normalisation.

* **HED jitter** (Tellez et al., 2018/2019): unmix RGB into haematoxylin, eosin and DAB concentrations with
  Ruifrok & Johnston's colour-deconvolution matrix, perturb each as ``c·α + β`` and mix back. Written here with
  numpy rather than albumentations' ``HEStain``: that one unmixes into H and E only and rebuilds the pixel from
  those two, dropping the residual (so it changes the image even at α = 1, β = 0), and its ``random_preset``
  mode swaps the whole stain matrix, which is a different augmentation.
* **RandStainNA** (Shen et al., MICCAI 2022): fit, on the training split, the distribution over images of each
  LAB channel's per-image mean and standard deviation (:class:`StainStats`); per image, draw a *virtual
  template* (a mean and a std per channel) from it and Reinhard-normalise the image to that template.
  No PyPI package implements RandStainNA; torchstain (checked: 1.4.1 installs offline-clean, numpy only) has a
  Reinhard normaliser fitted to one target *image*, i.e. the three-line formula below, so it is not worth a
  dependency. The LAB conversion is OpenCV's float one (sRGB gamma, D65; L in [0, 100], a/b around 0), not the
  official code's 8-bit LAB, which quantises the image before and after normalising.

All transforms are albumentations ``ImageOnlyTransform`` s that draw from their own seeded generator, uint8 HWC
RGB in and out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import albumentations as A
import cv2
import numpy as np

from augdiff.classify.albu import seeded_compose

# Ruifrok & Johnston (2001) optical-density vectors of haematoxylin, eosin and DAB (rows), as in scikit-image.
RGB_FROM_HED = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
HED_FROM_RGB = np.linalg.inv(RGB_FROM_HED)

Distribution = Literal["normal", "laplace", "uniform"]


def _check_rgb_uint8(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}")


def rgb_to_hed(image: np.ndarray) -> np.ndarray:
    """uint8 RGB → float64 (H, W, 3) stain concentrations (optical-density units; white is 0)."""
    _check_rgb_uint8(image)
    # (I + 1) / 256 keeps black finite and maps white to exactly 0 OD, so a pure scaling leaves background white.
    optical_density = -np.log((image.astype(np.float64) + 1.0) / 256.0)
    return optical_density @ HED_FROM_RGB


def hed_to_rgb(hed: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_hed`, rounded and clipped to uint8."""
    rgb = 256.0 * np.exp(-(hed @ RGB_FROM_HED)) - 1.0
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def hed_jitter(image: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Each stain concentration c ↦ c·scale + shift (per H, E, D channel)."""
    return hed_to_rgb(rgb_to_hed(image) * np.asarray(scale) + np.asarray(shift))


class HEDJitter(A.ImageOnlyTransform):
    """α ~ U(1 − scale_limit, 1 + scale_limit), β ~ U(−shift_limit, shift_limit) (OD units), per stain channel.

    Defaults are Tellez et al.'s "HED-light" σ = 0.05 (theirs is in scikit-image's rescaled units for β).
    """

    def __init__(self, scale_limit: float = 0.05, shift_limit: float = 0.05, p: float = 0.5) -> None:
        super().__init__(p=p)
        if scale_limit < 0 or shift_limit < 0:
            raise ValueError("scale_limit and shift_limit must be >= 0")
        self.scale_limit = scale_limit
        self.shift_limit = shift_limit

    def get_params(self) -> dict[str, Any]:
        rng = self.random_generator
        return {"scale": 1.0 + rng.uniform(-self.scale_limit, self.scale_limit, 3),
                "shift": rng.uniform(-self.shift_limit, self.shift_limit, 3)}

    def apply(self, img: np.ndarray, scale: np.ndarray, shift: np.ndarray, **params: Any) -> np.ndarray:
        return hed_jitter(img, scale, shift)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("scale_limit", "shift_limit")


def to_lab(image: np.ndarray) -> np.ndarray:
    """uint8 RGB → float32 CIE LAB (L in [0, 100])."""
    _check_rgb_uint8(image)
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def lab_statistics(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (population) standard deviation of the image in LAB, over all its pixels."""
    lab = to_lab(image).reshape(-1, 3).astype(np.float64)
    return lab.mean(axis=0), lab.std(axis=0)


def reinhard(image: np.ndarray, target_mean: np.ndarray, target_std: np.ndarray) -> np.ndarray:
    """Reinhard et al. (2001) colour transfer: match each LAB channel's mean and std to the target's."""
    lab = to_lab(image).astype(np.float64)
    mean, std = lab.reshape(-1, 3).mean(axis=0), lab.reshape(-1, 3).std(axis=0)
    # A flat channel (std 0) becomes the target mean rather than dividing by zero.
    out = (lab - mean) / np.maximum(std, 1e-6) * np.asarray(target_std) + np.asarray(target_mean)
    rgb = cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


Triple = tuple[float, float, float]


@dataclass(frozen=True)
class StainStats:
    """How the training images' LAB statistics vary: RandStainNA's pre-processing step (JSON-able)."""

    avg_mean: Triple  # mean over images of each channel's per-image mean
    avg_std: Triple  # standard deviation over images of the per-image means
    std_mean: Triple  # mean over images of each channel's per-image std
    std_std: Triple  # standard deviation over images of the per-image stds
    n_images: int
    color_space: str = "lab"

    @classmethod
    def fit(cls, images: np.ndarray) -> StainStats:
        """Fit on uint8 (N, H, W, 3) images — the training split only, so nothing leaks from val/test."""
        if len(images) == 0:
            raise ValueError("StainStats.fit needs at least one image")
        means, stds = map(np.array, zip(*(lab_statistics(image) for image in images)))

        def triple(values: np.ndarray) -> Triple:
            a, b, c = (float(v) for v in values)
            return a, b, c

        return cls(triple(means.mean(0)), triple(means.std(0)), triple(stds.mean(0)), triple(stds.std(0)),
                   len(images))

    def sample_template(
        self, rng: np.random.Generator, *, std_hyper: float = -0.3, distribution: Distribution = "normal"
    ) -> tuple[np.ndarray, np.ndarray]:
        """A virtual template (per-channel mean, per-channel std) drawn from the fitted distributions.

        ``std_hyper`` scales the spread of both distributions by (1 + std_hyper): the official code's default
        −0.3 keeps templates nearer the typical stain than the training set's own extremes.
        """
        if std_hyper < -1.0:
            raise ValueError(f"std_hyper must be >= -1, got {std_hyper}")
        k = 1.0 + std_hyper
        loc = np.array([self.avg_mean, self.std_mean])
        spread = np.array([self.avg_std, self.std_std]) * k
        if distribution == "normal":
            draw = rng.normal(loc, spread)
        elif distribution == "laplace":
            draw = rng.laplace(loc, spread)  # the official code passes the std as Laplace's scale; so do we
        elif distribution == "uniform":
            # ±3σ of each statistic (the official code draws the target std from the *means'* range here).
            draw = rng.uniform(loc - 3 * spread, loc + 3 * spread)
        else:
            raise ValueError(f"unknown distribution {distribution!r}")
        # A negative std would mirror the channel; the official code does not guard against it.
        return draw[0], np.maximum(draw[1], 0.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StainStats:
        def triple(key: str) -> Triple:
            a, b, c = (float(v) for v in data[key])
            return a, b, c

        return cls(triple("avg_mean"), triple("avg_std"), triple("std_mean"), triple("std_std"),
                   int(data["n_images"]), str(data.get("color_space", "lab")))


class RandStainNA(A.ImageOnlyTransform):
    """Reinhard-normalise the image to a virtual template drawn from :class:`StainStats` (Shen et al. 2022)."""

    def __init__(
        self, stats: StainStats, std_hyper: float = -0.3, distribution: Distribution = "normal", p: float = 0.5
    ) -> None:
        super().__init__(p=p)
        self.stats = stats
        self.std_hyper = std_hyper
        self.distribution: Distribution = distribution
        stats.sample_template(np.random.default_rng(0), std_hyper=std_hyper, distribution=distribution)  # validate

    def get_params(self) -> dict[str, Any]:
        mean, std = self.stats.sample_template(self.random_generator, std_hyper=self.std_hyper,
                                               distribution=self.distribution)
        return {"target_mean": mean, "target_std": std}

    def apply(self, img: np.ndarray, target_mean: np.ndarray, target_std: np.ndarray, **params: Any) -> np.ndarray:
        return reinhard(img, target_mean, target_std)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("std_hyper", "distribution")


def stain_transform(
    seed: int,
    stats: StainStats,
    *,
    p_randstain: float = 0.5,
    std_hyper: float = -0.3,
    distribution: Distribution = "normal",
    p_hed: float = 0.5,
    hed_scale: float = 0.05,
    hed_shift: float = 0.05,
) -> A.Compose:
    """Seeded stain augmentation: RandStainNA then HED jitter (uint8 HWC in and out).

    Defaults follow the RandStainNA authors' classification runs (p 0.5, std_hyper −0.3, normal) and their
    HED-light baseline (σ 0.05, p 0.5). Applied *after* the base ``train_transform`` (flips, 90° rotations).
    """
    return seeded_compose(
        [RandStainNA(stats, std_hyper=std_hyper, distribution=distribution, p=p_randstain),
         HEDJitter(scale_limit=hed_scale, shift_limit=hed_shift, p=p_hed)],
        seed,
    )
