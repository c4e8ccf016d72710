"""Domain feature distance: Fréchet distance in the penultimate layer of a small CNN trained on the real set.

Inception features come from ImageNet photographs; on H&E patches they are a borrowed yardstick (DDPM-PCam §3.1.1
declined FID for exactly this reason). This metric trains, quickly and with a fixed seed, a small classifier on the
real training images and their labels, and compares real and generated images in its 128-d pooled features. It
needs no downloaded network and works on any labelled histology set, but its scale depends on the dataset, the
seed and this network: it is NOT comparable to published FID values, only between generators evaluated against
the same real set with the same settings.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from augdiff import atomic
from augdiff.progress import NullReporter, Reporter
from augdiff.seeding import seeded_init, torch_generator

FEATURE_DIM = 128


@dataclass(frozen=True)
class DomainNetConfig:
    size: int = 32  # images are resized to size x size before the network
    steps: int = 200
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4


class DomainFeatureNet(nn.Module):
    """Four 3x3 conv blocks (16-32-64-128 channels, three of them stride 2) and global average pooling: 128-d features, then a linear head."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        widths = (16, 32, 64, FEATURE_DIM)
        layers: list[nn.Module] = []
        in_ch = 3
        for i, width in enumerate(widths):
            layers += [nn.Conv2d(in_ch, width, 3, stride=1 if i == 0 else 2, padding=1, bias=False),
                       nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            in_ch = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def to_input(images: np.ndarray, size: int) -> torch.Tensor:
    """uint8 NHWC -> float NCHW in [-1, 1] at ``size`` px (antialiased bilinear, so downscaling averages)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x


def _dihedral(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random flips and 90° rotations: tissue patches have no canonical orientation."""
    k = int(torch.randint(0, 4, (1,), generator=g))
    x = torch.rot90(x, k, dims=(2, 3))
    return torch.flip(x, dims=(3,)) if bool(torch.randint(0, 2, (1,), generator=g)) else x


@dataclass
class TrainedDomainNet:
    net: DomainFeatureNet
    config: DomainNetConfig
    train_accuracy: float
    cached: bool
    key: str


def cache_key(images: np.ndarray, labels: np.ndarray, config: DomainNetConfig, seed: int) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"config": asdict(config), "seed": seed, "shape": images.shape}).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def train_domain_net(
    images: np.ndarray, labels: np.ndarray, *, seed: int, config: DomainNetConfig = DomainNetConfig(),
    device: str = "cpu", cache_dir: Path | None = None, progress: Reporter = NullReporter(),
) -> TrainedDomainNet:
    """Train (or load from ``cache_dir``) the feature network on real images and their class labels."""
    labels = np.asarray(labels, dtype=np.int64)
    num_classes = int(labels.max()) + 1
    key = cache_key(images, labels, config, seed)
    cache_file = Path(cache_dir) / f"domain-net-{key}.pt" if cache_dir is not None else None
    if cache_file is not None and cache_file.is_file():
        saved = torch.load(cache_file, map_location="cpu", weights_only=True)
        net = DomainFeatureNet(num_classes)
        net.load_state_dict(saved["state"])
        return TrainedDomainNet(net.to(device).eval(), config, float(saved["train_accuracy"]), True, key)

    with seeded_init(seed, "domain-net", "init"):
        net = DomainFeatureNet(num_classes).to(device)
    g = torch_generator(seed, "domain-net", "batches")
    x_all = to_input(images, config.size)
    y_all = torch.from_numpy(labels)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.steps)
    net.train()
    with progress.task("domain feature net", config.steps) as task:
        for _ in range(config.steps):
            idx = torch.randint(0, len(x_all), (min(config.batch_size, len(x_all)),), generator=g)
            xb, yb = _dihedral(x_all[idx], g).to(device), y_all[idx].to(device)
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            task.advance(1, loss=float(loss.detach()))
    net.eval()
    preds = predict(net, images, config.size, device)
    accuracy = float((preds == labels).mean())
    if cache_file is not None:
        buffer = io.BytesIO()
        torch.save({"state": net.state_dict(), "train_accuracy": accuracy}, buffer)
        atomic.write_bytes(cache_file, buffer.getvalue())
    return TrainedDomainNet(net, config, accuracy, False, key)


@torch.inference_mode()
def predict(net: DomainFeatureNet, images: np.ndarray, size: int, device: str, batch_size: int = 256) -> np.ndarray:
    out = [net(to_input(images[i : i + batch_size], size).to(device)).argmax(1).cpu().numpy()
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out)


@torch.inference_mode()
def domain_features(
    net: DomainFeatureNet, images: np.ndarray, size: int, device: str = "cpu", batch_size: int = 256
) -> np.ndarray:
    out = [net.features(to_input(images[i : i + batch_size], size).to(device)).double().cpu().numpy()
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out)


def describe(trained: TrainedDomainNet) -> dict[str, Any]:
    return {"feature_dim": FEATURE_DIM, "train_accuracy": round(trained.train_accuracy, 4),
            "cached": trained.cached, "key": trained.key, **asdict(trained.config)}
