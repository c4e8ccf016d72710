"""Fitted weights on disk, written atomically and read back with one-line errors: one safetensors file per
network, or (for generators that keep several networks or images with them) one ``torch.save`` file of state
dicts by key that loads with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from augdiff import atomic
from augdiff.errors import AugdiffError


def save_weights(path: Path, module: nn.Module, metadata: dict[str, str] | None = None) -> None:
    """``module``'s state dict (on the CPU) as a safetensors file; a half-written file never has the final name."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    with atomic.atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)


def read_weights(path: Path, *, missing: str) -> tuple[dict[str, Tensor], dict[str, str]]:
    """The tensors and metadata of a weights file; ``missing`` is the one-line error when there is none."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise AugdiffError(f"{path}: {missing}")
    with safe_open(str(path), "pt") as fh:
        metadata = fh.metadata() or {}
    return load_file(str(path)), metadata


def load_state(module: nn.Module, state: dict[str, Tensor], path: Path) -> nn.Module:
    """Load ``state`` (read from ``path``) into ``module``; weights of another shape are one line, not a traceback."""
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise AugdiffError(f"{path}: weights do not match config.json ({exc.args[0][:80]}…)") from exc
    return module


def load_weights(module: nn.Module, path: Path, *, refit: str) -> nn.Module:
    """Load ``path`` into ``module``; a missing file says to re-run the command ``refit`` that writes it."""
    state, _ = read_weights(path, missing=f"missing weights; re-run `{refit}` to write them")
    return load_state(module, state, path)


def save_state_dicts(path: Path, states: dict[str, Any]) -> None:
    """``states`` (state dicts, tensors, plain lists and numbers by key) as one ``torch.save`` file that
    :func:`load_state_dicts` reads with ``weights_only=True``; a half-written file never has the final name."""
    with atomic.atomic_path(path) as tmp:
        torch.save(states, tmp)


def load_state_dicts(path: Path, *, missing: str) -> dict[str, Any]:
    """What :func:`save_state_dicts` wrote to ``path``, on the CPU; ``missing`` is the one-line error when there is
    no such file (say which command writes it), and an unreadable file is a one-line error too."""
    path = Path(path)
    if not path.is_file():
        raise AugdiffError(f"{path}: {missing}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or foreign: name the file, not a pickle traceback
        raise AugdiffError(
            f"{path}: not a readable weights file ({type(exc).__name__}); delete it and fit again"
        ) from exc
