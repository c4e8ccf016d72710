"""Mixed precision: which autocast dtype a run uses, and whether it needs a gradient scaler."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from augdiff import devices
from augdiff.errors import AugdiffError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Precision:
    name: str  # fp32 | bf16 | fp16 (resolved, never "auto")
    device_type: str

    @property
    def dtype(self) -> torch.dtype | None:
        return devices.AUTOCAST_DTYPES.get(self.name)

    @property
    def uses_scaler(self) -> bool:
        # fp16 gradients underflow without loss scaling; bf16 has fp32's exponent range and does not.
        return self.name == "fp16"

    def autocast(self) -> contextlib.AbstractContextManager:
        return devices.autocast(self.device_type, self.name)


def resolve_precision(name: str, device: torch.device) -> Precision:
    """``auto`` is fp32 on CPU and bf16 on CUDA where supported, else fp16 with a gradient scaler.

    fp32 on CPU is measured, not assumed: on the AVX-512-BF16 CPUs without AMX that this project is developed on,
    torch's bf16 matmul ran at 0.7x fp32 and bf16 convolution weight-gradients 5-10x slower, so a bf16 U-Net
    training step was 3x slower (see docs/generators/ddpm-pcam.md). Choose ``bf16`` explicitly on CPUs with AMX.
    """
    if name not in PRECISIONS:
        raise AugdiffError(f"precision '{name}' is unknown; choose one of {', '.join(PRECISIONS)}")
    kind = device.type
    if name == "auto":
        cuda_dtype = "bf16" if kind == "cuda" and torch.cuda.is_bf16_supported() else "fp16"
        name = cuda_dtype if kind == "cuda" else "fp32"
    if name == "fp16" and kind != "cuda":
        raise AugdiffError("precision 'fp16' needs a CUDA device; use 'bf16' or 'fp32' on CPU")
    return Precision(name, kind)


def supports_bf16(device: torch.device) -> bool:
    """Whether bf16 autocast is worth using on ``device``: CUDA GPUs that compute in bf16 (Ampere and later).

    The CPU can run bf16 but is slower at it on the CPUs measured here (see :func:`resolve_precision`); MPS is left
    in fp32 until it is measured.
    """
    return device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def classifier_precision(name: str, device: torch.device) -> str:
    """The autocast the downstream classifier trains and predicts under on ``device``.

    ``auto``: bf16 where :func:`supports_bf16`, else fp32 (never fp16: the classifier loop has no loss scaler).
    ``bf16`` and ``fp32`` are taken as asked (bf16 on a CPU with AMX is the user's call).
    """
    if name == "auto":
        return "bf16" if supports_bf16(device) else "fp32"
    if name not in ("fp32", "bf16"):
        raise AugdiffError(f"classifier precision '{name}' is unknown; choose one of auto, fp32, bf16")
    return name
