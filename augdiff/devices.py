"""Where models run and at what precision: one device rule and one autocast helper for every model in augdiff."""

from __future__ import annotations

import contextlib

import torch

from augdiff.errors import AugdiffError

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: CUDA when there is one, else the CPU; ``cuda``: this process's GPU (``local_rank`` under torchrun);
    any other torch device name as it is. CUDA asked for where there is none is one line, not a traceback."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AugdiffError(f"device '{name}': no CUDA device is available; use 'cpu' or 'auto'")
    if name == "cuda":
        return torch.device("cuda", local_rank)
    return torch.device(name)


def autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """Mixed precision on ``device`` for ``precision`` "bf16" or "fp16"; anything else ("fp32") is full precision."""
    dtype = AUTOCAST_DTYPES.get(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)
