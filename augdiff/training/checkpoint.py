"""Training checkpoints: atomic ``torch.save`` files that load with ``weights_only=True``, and every RNG state.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts only (no pickled objects), so loading it
never runs code from the file. RNG states are stored as tensors and ints for the same reason.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from augdiff import atomic
from augdiff.errors import AugdiffError
from augdiff.progress import note

CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^step-(\d+)\.pt$")


def checkpoint_path(workdir: str | Path, step: int) -> Path:
    return Path(workdir) / CHECKPOINT_DIR / f"step-{step:08d}.pt"


def list_checkpoints(workdir: str | Path) -> list[Path]:
    """Complete checkpoints in ``workdir``, oldest first (temporary files of an interrupted save are ignored)."""
    folder = Path(workdir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(workdir: str | Path) -> Path | None:
    found = list_checkpoints(workdir)
    return found[-1] if found else None


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` through a temporary sibling and a rename: never a half-written checkpoint."""
    with atomic.atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu", *, announce: bool = True
) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (tensors and plain containers only).

    Every trainer loads a checkpoint only to resume from it, so this is where the user is told "resuming from step
    N" (once per job under torchrun: rank 0 says it); ``announce=False`` for other reads.
    """
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a corrupt or foreign file: say which and what to do
        raise AugdiffError(
            f"{path}: not a readable augdiff checkpoint ({type(exc).__name__}); delete it to start over"
        ) from exc
    if announce and isinstance(state, dict) and isinstance(state.get("step"), int) and _is_main_rank():
        note(f"resuming from step {state['step']} ({path})")
    return state


def _is_main_rank() -> bool:
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def remove_stale_temporaries(workdir: str | Path) -> None:
    """Delete temporary files left by a save that was killed before its rename."""
    folder = Path(workdir) / CHECKPOINT_DIR
    if folder.is_dir():
        for tmp in folder.glob(".step-*.tmp"):
            tmp.unlink(missing_ok=True)


def prune_checkpoints(workdir: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints."""
    for old in list_checkpoints(workdir)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)


# -- RNG states as tensors and ints ----------------------------------------------------------------------------
def capture_rng(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA global states, plus ``generator``'s, in weights-only-safe form."""
    version, internal, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": {"version": version, "state": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "name": np_name,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def restore_rng(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Undo ``capture_rng``: set every global RNG (and ``generator``) to the captured state."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    nps = state["numpy"]
    np.random.set_state(
        (
            nps["name"],
            nps["keys"].numpy().astype(np.uint32),
            nps["pos"],
            nps["has_gauss"],
            nps["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"].cpu())


# -- whole training states of several modules ------------------------------------------------------------------
def save_modules(
    workdir: str | Path,
    step: int,
    modules: dict[str, Any],
    rng: torch.Generator,
    *,
    keep: int = 2,
    **extra: Any,
) -> Path:
    """Checkpoint ``step`` in ``workdir``: ``{"step", **extra, <key>: modules[key].state_dict() …, "rng"}``.

    ``modules`` maps checkpoint keys to anything with ``state_dict``/``load_state_dict`` (networks, optimisers,
    an :class:`~augdiff.training.ema.EMA`); ``rng`` is the trainer's generator, saved with every global RNG by
    :func:`capture_rng`; ``extra`` are plain values written for people (images seen, phase, …), never read back.
    All but the newest ``keep`` checkpoints are deleted afterwards. Returns the checkpoint's path.
    """
    path = checkpoint_path(workdir, step)
    state = {"step": int(step), **extra, **{key: m.state_dict() for key, m in modules.items()}}
    save_checkpoint(path, {**state, "rng": capture_rng(rng)})
    prune_checkpoints(workdir, keep)
    return path


def resume_modules(workdir: str | Path, modules: dict[str, Any], rng: torch.Generator) -> dict[str, Any] | None:
    """Undo :func:`save_modules` from the latest checkpoint in ``workdir``: load every module's state and restore
    the RNGs. Returns the checkpoint (its ``"step"`` is where training continues), or None when there is none."""
    path = latest_checkpoint(workdir)
    if path is None:
        return None
    state = load_checkpoint(path)
    for key, module in modules.items():
        module.load_state_dict(state[key])
    restore_rng(state["rng"], rng)
    return state
