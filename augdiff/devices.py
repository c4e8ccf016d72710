"""Where models run and at what precision: one device rule and one autocast helper for every model in augdiff."""

from __future__ import annotations

import contextlib

import torch

from augdiff.errors import AugdiffError

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
AUTO = "auto"
EXAMPLES = "cpu, cuda, cuda:N, mps or auto"


def parse_device(name: str, option: str = "device") -> str:
    """``name`` if torch reads it as a device (or it is ``auto``), else one line naming ``option``.

    Only the spelling is checked here; :func:`check_device` also asks whether this machine has the device.
    """
    join = "=" if option.startswith("--set") else " "
    if not isinstance(name, str) or not name.strip():
        raise AugdiffError(f"{option}{join}{name!r}: not a torch device; use {EXAMPLES}")
    name = name.strip()
    if name == AUTO:
        return name
    try:
        torch.device(name)
    except (RuntimeError, ValueError):
        raise AugdiffError(f"{option}{join}{name}: not a torch device; use {EXAMPLES}") from None
    return name


def device_type(name: str) -> str:
    """The kind of device ``name`` (a checked name) runs on: ``auto`` is CUDA when there is one, else the CPU."""
    if name == AUTO:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name).type


def check_device(name: str, option: str = "--device") -> str:
    """``name`` when it is a device of this machine (or ``auto``); else one line that says what to use instead.

    Commands call this before loading any data, so a GPU asked for where there is none fails at once. ``option``
    names where the value came from: ``--device`` or ``--set device``.
    """
    name = parse_device(name, option)
    if name == AUTO:
        return name
    device = torch.device(name)
    join = "=" if option.startswith("--set") else " "
    given, instead = f"{option}{join}{name}", f"use {option}{join}cpu, or {option}{join}auto (CUDA when there is one)"
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise AugdiffError(f"{given}: no CUDA device is available on this machine; {instead}")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise AugdiffError(f"{given}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}; "
                               f"choose one of them or {option}{join}cuda")
    elif device.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise AugdiffError(f"{given}: no Apple MPS device is available on this machine; {instead}")
    elif device.type != "cpu":
        backend = getattr(torch, device.type, None)
        available = getattr(backend, "is_available", None)
        if not callable(available) or not available():
            raise AugdiffError(f"{given}: this torch has no usable '{device.type}' device here; {instead}")
    return name


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: CUDA when there is one, else the CPU; ``cuda``: this process's GPU (``local_rank`` under torchrun);
    any other torch device name as it is. A device this machine lacks is one line, not a traceback."""
    name = check_device(name, "device")
    if name == AUTO:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        return torch.device("cuda", local_rank)
    return torch.device(name)


def metrics_device(name: str | None) -> str:
    """The device the metrics run on: the CPU unless ``--device`` names one (``auto`` resolved: the metric code
    takes a concrete torch device)."""
    return "cpu" if name is None else str(resolve_device(name))


def autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """Mixed precision on ``device`` for ``precision`` "bf16" or "fp16"; anything else ("fp32") is full precision."""
    dtype = AUTOCAST_DTYPES.get(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)
