"""Image tensors for diffusion training: uint8 NHWC arrays in, float CHW tensors in [-1, 1] out, and back."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset


def to_model_range(images_uint8_nhwc: np.ndarray | Tensor) -> Tensor:
    """uint8 (N, H, W, C) → float32 (N, C, H, W) in [-1, 1]."""
    x = torch.as_tensor(np.asarray(images_uint8_nhwc))
    return x.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8_images(x: Tensor) -> np.ndarray:
    """float (N, C, H, W) in [-1, 1] (clamped) → uint8 (N, H, W, C) numpy, as ``Samples.images`` wants."""
    x = ((x.detach().float().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


class ImageTensorDataset(Dataset):
    """A torch Dataset over uint8 NHWC images: item ``i`` is the (C, H, W) float tensor in [-1, 1], or
    ``(image, label)`` when ``labels`` are given.

    ``hflip`` mirrors an item horizontally with probability 1/2, drawn from torch's global RNG (the trainer
    seeds it and stores it in its checkpoints, so a resumed run flips the same items).
    """

    def __init__(
        self, images_uint8_nhwc: np.ndarray, labels: np.ndarray | None = None, hflip: bool = False
    ) -> None:
        images = np.asarray(images_uint8_nhwc)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise ValueError(f"images must be uint8 (N, H, W, 1|3), got {images.dtype} {images.shape}")
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"{len(labels)} labels for {len(images)} images")
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.long)
        self.hflip = hflip

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Tensor | tuple[Tensor, Tensor]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list[int]) -> list:
        """A whole batch in a few tensor operations (the DataLoader calls this instead of item by item)."""
        index = torch.as_tensor(indices, dtype=torch.long)
        x = self.images[index].permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
        if self.hflip:
            flip = torch.rand(len(index)) < 0.5
            x[flip] = x[flip].flip(-1)
        items = list(x.unbind(0))
        return items if self.labels is None else list(zip(items, self.labels[index].unbind(0)))
