"""Training-time augmentation for the downstream classifier (albumentations), and pixel → tensor conversion.

Histology patches have no canonical orientation, so flips and 90° rotations are label-preserving; colour jitter
is kept light so that it does not compete with the generators being compared (stain-jitter is one of them).
"""

from __future__ import annotations

import albumentations as A
import numpy as np
import torch

from augdiff.classify.albu import seeded_compose


def train_transform(seed: int) -> A.Compose:
    """Seeded: the same ``seed`` replays the same augmentation stream.

    Each transform draws from its own stream (:func:`augdiff.classify.albu.seeded_compose`): with one shared seed
    the two flips fired together, so only the four rotations and never a mirror image were drawn.
    """
    return seeded_compose(
        [
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.5),
            A.RandomRotate90(p=1.0),
            A.ColorJitter(brightness=(0.9, 1.1), contrast=(0.9, 1.1), saturation=(0.9, 1.1), hue=(-0.02, 0.02),
                          p=0.5),
        ],
        seed,
    )


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) → float32 (N, 3, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def augment_batch(transform: A.Compose, images: np.ndarray) -> np.ndarray:
    return np.stack([transform(image=img)["image"] for img in images])
