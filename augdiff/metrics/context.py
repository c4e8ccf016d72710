"""What every metric reads: the two image sets, the options, and features computed once and shared.

Inception features feed FID, KID, sFID and memorisation; the domain network feeds the domain distance and
memorisation. Both are computed lazily, so asking only for ``kid`` never trains the domain network.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from augdiff import atomic
from augdiff.errors import AugdiffError
from augdiff.metrics import domain, inception
from augdiff.metrics.memorisation import DEFAULT_RATIO
from augdiff.metrics.registry import MetricUnavailable
from augdiff.progress import NullReporter, Reporter
from augdiff.seeding import numpy_rng

# Below this many samples FID is noticeably biased upward (Chong & Forsyth 2020; clean-fid's docs): compare FIDs
# only at equal sample counts, or use KID, which is unbiased.
FID_MIN_SAMPLES = 2000


@dataclass
class EvalOptions:
    """The keyword options of :func:`augdiff.metrics.evaluate_images` (unknown keys are an error)."""

    real_labels: np.ndarray | None = None  # class index per real image: needed by the domain distance
    inception: str | os.PathLike | None = None  # TorchScript Inception file (else $AUGDIFF_INCEPTION, else bundled)
    batch_size: int = 32
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    lpips_net: str = "alex"
    lpips_backbone: str | os.PathLike | None = None
    lpips_pairs: int = 1000
    domain_size: int = 32
    domain_steps: int = 200
    memorisation_ratio: float = DEFAULT_RATIO
    memorisation_features: tuple[str, ...] = ("inception_pool3", "domain")  # feature spaces besides pixels
    closest_pairs: int = 16
    cache_dir: Path | None = None  # domain network and real-set Inception features are cached here when given
    # Also cache the generated side's Inception features: the benchmark compares one sample with two references.
    cache_fake: bool = False
    out_dir: Path | None = None  # the closest-pairs PNG goes here when given
    progress: Reporter = field(default_factory=NullReporter)

    @classmethod
    def from_kwargs(cls, kw: dict[str, Any]) -> EvalOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kw) - known)
        if unknown:
            raise AugdiffError(f"evaluate_images: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**kw)


def _check_images(name: str, images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise AugdiffError(f"{name}: expected uint8 images of shape (N, H, W, 3), got {images.dtype} {images.shape}")
    if len(images) < 2:
        raise AugdiffError(f"{name}: need at least 2 images to compare distributions, got {len(images)}")
    return images


def images_digest(images: np.ndarray) -> str:
    h = hashlib.sha256(repr(images.shape).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    return h.hexdigest()[:16]


class EvalContext:
    def __init__(self, real: np.ndarray, fake: np.ndarray, *, seed: int, device: str, options: EvalOptions) -> None:
        self.real = _check_images("real images", real)
        self.fake = _check_images("generated images", fake)
        self.seed = seed
        self.device = device
        self.options = options
        if options.real_labels is not None and len(options.real_labels) != len(self.real):
            raise AugdiffError(
                f"real_labels: {len(options.real_labels)} labels for {len(self.real)} real images"
            )

    def rng(self, *keys: object) -> np.random.Generator:
        return numpy_rng(self.seed, "metrics", *keys)

    @property
    def counts(self) -> dict[str, int]:
        return {"n_real": len(self.real), "n_fake": len(self.fake)}

    # -- Inception ---------------------------------------------------------------------------------------
    @functools.cached_property
    def inception_extractor(self) -> inception.InceptionExtractor:
        path = inception.resolve_inception(self.options.inception)
        return inception.load_extractor(str(path), self.device)

    def _inception(self, images: np.ndarray, label: str, cache: bool) -> inception.InceptionFeatures:
        ext = self.inception_extractor
        cache_file = None
        if cache and self.options.cache_dir is not None:
            cache_file = Path(self.options.cache_dir) / f"inception-{images_digest(images)}-{ext.sha256[:12]}.npz"
            if cache_file.is_file():
                with np.load(cache_file) as saved:
                    return inception.InceptionFeatures(saved["pool3"], saved.get("spatial"))
        feats = ext.features(images, batch_size=self.options.batch_size, progress=self.options.progress, label=label)
        if cache_file is not None:
            buffer = io.BytesIO()
            arrays = {"pool3": feats.pool3} | ({"spatial": feats.spatial} if feats.spatial is not None else {})
            np.savez(buffer, **arrays)
            atomic.write_bytes(cache_file, buffer.getvalue())
        return feats

    @functools.cached_property
    def inception_real(self) -> inception.InceptionFeatures:
        # The real reference is shared by every generator evaluated against it: worth caching.
        return self._inception(self.real, "(real)", cache=True)

    @functools.cached_property
    def inception_fake(self) -> inception.InceptionFeatures:
        return self._inception(self.fake, "(generated)", cache=self.options.cache_fake)

    def inception_info(self) -> dict[str, Any]:
        ext = self.inception_extractor
        return {"weights": str(ext.path), "weights_sha256": ext.sha256,
                "preprocess": "clean-fid resize (per-channel PIL bicubic on float32, 299x299, no quantisation), "
                              "then (x - 128) / 128"}

    # -- domain network ----------------------------------------------------------------------------------
    @functools.cached_property
    def domain_net(self) -> domain.TrainedDomainNet:
        labels = self.options.real_labels
        if labels is None:
            raise MetricUnavailable("needs the class labels of the real images (real_labels) to train the feature net")
        if len(np.unique(labels)) < 2:
            raise MetricUnavailable("needs real images of at least 2 classes to train the feature classifier")
        config = domain.DomainNetConfig(size=self.options.domain_size, steps=self.options.domain_steps)
        return domain.train_domain_net(self.real, labels, seed=self.seed, config=config, device=self.device,
                                       cache_dir=self.options.cache_dir, progress=self.options.progress)

    @functools.cached_property
    def domain_real(self) -> np.ndarray:
        return domain.domain_features(self.domain_net.net, self.real, self.domain_net.config.size, self.device)

    @functools.cached_property
    def domain_fake(self) -> np.ndarray:
        return domain.domain_features(self.domain_net.net, self.fake, self.domain_net.config.size, self.device)


def small_sample_warnings(n_real: int, n_fake: int, minimum: int = FID_MIN_SAMPLES) -> list[str]:
    low = [f"{name}={n}" for name, n in (("n_real", n_real), ("n_fake", n_fake)) if n < minimum]
    if not low:
        return []
    return [f"{', '.join(low)} < {minimum}: Fréchet distance biased upward; compare only at equal n (KID is unbiased)"]
