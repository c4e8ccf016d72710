"""One ``--seed`` reaches every random choice: derive independent, named streams from it."""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Iterator

import numpy as np
import torch


def derive_seed(seed: int, *keys: object) -> int:
    """A stable 63-bit seed for the stream named by ``keys`` (e.g. ``derive_seed(s, "split", "tumor")``)."""
    h = hashlib.sha256(repr((int(seed), *map(str, keys))).encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch global RNGs (for code that does not take an explicit generator)."""
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)


def torch_generator(seed: int, *keys: object, device: str | torch.device = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(derive_seed(seed, *keys) if keys else int(seed))
    return g


@contextlib.contextmanager
def seeded_init(seed: int, *keys: object) -> Iterator[None]:
    """Inside the block torch's global RNG draws from ``derive_seed(seed, *keys)``, and is restored after it: initial
    weights built there follow the seed, and nothing else depends on whether the block ran."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, *keys))
        yield


def numpy_rng(seed: int, *keys: object) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, *keys) if keys else int(seed))
