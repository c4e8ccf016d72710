"""LPIPS diversity: the mean LPIPS distance between pairs of generated images (higher = more diverse).

The ``lpips`` package (Zhang et al. 2018) ships its calibrated linear layers, but takes the AlexNet/VGG trunk from
torchvision, which would download it. We build LPIPS with a random trunk (``pnet_rand=True``: nothing is fetched)
and load the trunk from a local torchvision checkpoint: ``--lpips-backbone FILE`` / ``$AUGDIFF_LPIPS_BACKBONE``, or
the file torchvision itself would have cached under ``torch.hub.get_dir()/checkpoints``. Without it the metric is
reported unavailable, naming the file it needs; there is no silent fallback to a random trunk.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from augdiff.errors import AugdiffError
from augdiff.metrics.registry import MetricUnavailable

ENV_LPIPS_BACKBONE = "AUGDIFF_LPIPS_BACKBONE"
NETS = ("alex", "vgg", "squeeze")
# AlexNet's pooling stack needs >= 31 px; small patches are upsampled so every LPIPS layer sees a real map.
MIN_SIZE = 64


def _torchvision_weights(net: str):  # type: ignore[no-untyped-def]
    from torchvision import models

    return {
        "alex": models.AlexNet_Weights.IMAGENET1K_V1,
        "vgg": models.VGG16_Weights.IMAGENET1K_V1,
        "squeeze": models.SqueezeNet1_1_Weights.IMAGENET1K_V1,
    }[net]


def default_backbone_path(net: str) -> Path:
    """Where torchvision caches the trunk's ImageNet weights (the file name is the last part of its URL)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / _torchvision_weights(net).url.rsplit("/", 1)[-1]


def resolve_backbone(net: str, path: str | os.PathLike | None = None) -> Path:
    if net not in NETS:
        raise AugdiffError(f"--lpips-net {net}: choose one of {', '.join(NETS)}")
    for source, candidate in (("--lpips-backbone", path), (f"${ENV_LPIPS_BACKBONE}", os.environ.get(ENV_LPIPS_BACKBONE))):
        if candidate:
            candidate = Path(candidate)
            if not candidate.is_file():
                raise AugdiffError(f"{source} {candidate}: no such file; give torchvision's {net} ImageNet weights")
            return candidate
    default = default_backbone_path(net)
    if not default.is_file():
        raise MetricUnavailable(
            f"needs FILE {default} (torchvision's ImageNet {net} weights, "
            f"{_torchvision_weights(net).url}); copy it there or pass --lpips-backbone FILE"
        )
    return default


def _trunk_state(lpips_model: torch.nn.Module, backbone_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map torchvision's ``features.<i>.<param>`` onto lpips' ``slice<k>.<i>.<param>`` (same modules, regrouped)."""
    owner = {
        child: slice_name
        for slice_name, block in lpips_model.net.named_children()
        if slice_name.startswith("slice")
        for child, _ in block.named_children()
    }
    mapped = {}
    for key, value in backbone_state.items():
        parts = key.split(".")
        if parts[0] == "features" and parts[1] in owner:
            mapped[f"{owner[parts[1]]}.{'.'.join(parts[1:])}"] = value
    return mapped


@functools.lru_cache(maxsize=2)
def load_lpips(net: str, backbone: str, device: str = "cpu") -> torch.nn.Module:
    try:
        import lpips
    except ImportError as exc:
        raise MetricUnavailable("the lpips package is not installed: pip install 'lpips>=0.1.4'") from exc
    with warnings.catch_warnings():
        # lpips still passes torchvision's pre-0.13 ``pretrained=False``; harmless, and it means "no download".
        warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")
        model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
    try:
        state = torch.load(backbone, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise AugdiffError(f"{backbone}: cannot read the {net} weights ({exc}); give torchvision's checkpoint") from exc
    trunk = _trunk_state(model, state)
    expected = set(model.net.state_dict())
    if set(trunk) != expected:
        raise AugdiffError(
            f"{backbone}: not torchvision {net} weights (missing {sorted(expected - set(trunk))[:3]}...)"
        )
    model.net.load_state_dict(trunk)
    return model.eval().to(device)


def sample_pairs(n: int, max_pairs: int, rng: np.random.Generator) -> np.ndarray:
    """All unordered pairs when there are at most ``max_pairs``, else that many distinct random pairs."""
    total = n * (n - 1) // 2
    if total <= max_pairs:
        i, j = np.triu_indices(n, k=1)
        return np.stack([i, j], axis=1)
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < max_pairs:
        a, b = rng.integers(0, n, size=2)
        if a != b:
            chosen.add((int(min(a, b)), int(max(a, b))))
    return np.array(sorted(chosen), dtype=np.int64)


def to_lpips_input(images: np.ndarray, device: str) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    if min(x.shape[-2:]) < MIN_SIZE:
        x = F.interpolate(x, size=(MIN_SIZE, MIN_SIZE), mode="bilinear", align_corners=False)
    return x.to(device)


@dataclass
class Diversity:
    mean: float
    std: float
    pairs: int


@torch.inference_mode()
def lpips_diversity(
    model: torch.nn.Module, images: np.ndarray, *, rng: np.random.Generator, max_pairs: int = 1000,
    batch_size: int = 64, device: str = "cpu",
) -> Diversity:
    if len(images) < 2:
        raise MetricUnavailable("LPIPS diversity needs at least 2 generated images")
    pairs = sample_pairs(len(images), max_pairs, rng)
    x = to_lpips_input(images, device)
    dists = []
    for start in range(0, len(pairs), batch_size):
        p = torch.from_numpy(pairs[start : start + batch_size]).to(x.device)
        dists.append(model(x[p[:, 0]], x[p[:, 1]]).flatten().double().cpu().numpy())
    d = np.concatenate(dists)
    return Diversity(float(d.mean()), float(d.std()), len(d))
