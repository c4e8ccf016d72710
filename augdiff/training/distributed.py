"""torchrun support: one process per device, gloo on CPU, nccl on CUDA; rank 0 writes, everyone agrees."""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from augdiff.errors import AugdiffError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def launched() -> DistInfo:
    """What torchrun's environment says about this process, without joining any process group."""
    return DistInfo(rank=_env_int("RANK", 0), world_size=max(1, _env_int("WORLD_SIZE", 1)),
                    local_rank=_env_int("LOCAL_RANK", 0))


def refuse_torchrun(what: str, fit_generators: list[str]) -> None:
    """One line instead of N processes racing for the same run folders, for ``what`` (e.g. "augdiff augment")
    that runs as one process. Only ``augdiff fit`` of the ``fit_generators`` uses torchrun's processes."""
    info = launched()
    if info.enabled:
        raise AugdiffError(
            f"{what} runs as one process, but torchrun started {info.world_size} (WORLD_SIZE={info.world_size}); "
            f"run it without torchrun (only `augdiff fit` of {', '.join(fit_generators) or 'no installed generator'}"
            " uses torchrun's processes)"
        )


def setup(device_type: str) -> DistInfo:
    """Join the process group torchrun describes in the environment (no-op for a single process)."""
    world = launched().world_size
    if world <= 1:
        return DistInfo()
    initialized_here = False
    if device_type == "cuda":  # nccl's collectives (broadcast_object too) run on the current device
        torch.cuda.set_device(launched().local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
        initialized_here = True
    info = DistInfo(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        initialized_here=initialized_here,
    )
    if initialized_here:  # later trainers in this process reuse the group; it goes when the process does
        atexit.register(teardown, info)
    return info


def teardown(info: DistInfo) -> None:
    if info.initialized_here and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_mean(info: DistInfo, values: torch.Tensor) -> torch.Tensor:
    """Element-wise mean over ranks (NaN anywhere stays NaN, so every rank sees a divergence)."""
    if not info.enabled:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / info.world_size


def gather_objects(info: DistInfo, obj: Any) -> list[Any]:
    """Every rank's ``obj`` in rank order (only meaningful on rank 0, but returned everywhere)."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(info: DistInfo, obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
