"""Seeded albumentations pipelines in which every transform draws from its own random stream.

``A.Compose(seed=s)`` hands the *same* seed ``s`` to every transform it holds, so transforms that draw the same
kind of numbers move in lockstep: in ``[HorizontalFlip(p=0.5), VerticalFlip(p=0.5)]`` both flips fire together
or not at all, and the pair never produces a mirror image. :func:`seeded_compose` re-seeds each transform (and
each nested compose's children) with its own stream derived from the one seed, so a seed still replays exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A

from augdiff.seeding import derive_seed

_SEED_SPACE = 1 << 32  # albumentations passes seeds to both numpy and Python's random; keep them 32-bit


def reseed(compose: A.BaseCompose, seed: int, *path: int) -> None:
    """Give each transform under ``compose`` an independent stream named by its position."""
    for index, transform in enumerate(compose.transforms):
        # A compose propagates its seed to its children, which the recursion then overrides one by one.
        transform.set_random_seed(derive_seed(seed, "albumentations", *path, index) % _SEED_SPACE)
        if isinstance(transform, A.BaseCompose):
            reseed(transform, seed, *path, index)


def seeded_compose(transforms: Sequence[A.BasicTransform | A.BaseCompose], seed: int) -> A.Compose:
    """``A.Compose`` whose output stream is a function of ``seed`` alone, with decorrelated transforms."""
    compose = A.Compose(list(transforms), seed=seed % _SEED_SPACE)
    reseed(compose, seed)
    return compose
