"""Image transforms every dataset shares: centre crop, then resize; and uint8 <-> [-1, 1] tensor conversion."""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch
from PIL import Image

from augdiff.data.spec import DataOptions
from augdiff.errors import AugdiffError


def check_options(options: DataOptions) -> None:
    if options.crop is not None and options.crop < 1:
        raise AugdiffError(f"--crop {options.crop}: must be a positive number of pixels")
    if options.size is not None and options.size < 1:
        raise AugdiffError(f"--size {options.size}: must be a positive number of pixels")
    if options.train_per_class < 1:
        raise AugdiffError(f"--train-per-class {options.train_per_class}: must be at least 1")


def center_crop(images: np.ndarray, crop: int) -> np.ndarray:
    """Central crop x crop window of (N, H, W, C) images (DDPM-PCam takes the 32x32 centre of 96x96 PCam)."""
    h, w = images.shape[1:3]
    if crop > min(h, w):
        raise AugdiffError(f"--crop {crop}: larger than the {h}x{w} images; choose at most {min(h, w)}")
    top, left = (h - crop) // 2, (w - crop) // 2
    return images[:, top : top + crop, left : left + crop]


def _resize_one(image: np.ndarray, height: int, width: int) -> np.ndarray:
    # Lanczos for shrinking (antialiased), bicubic for enlarging (Lanczos rings more there).
    shrinking = height * width < image.shape[0] * image.shape[1]
    method = Image.Resampling.LANCZOS if shrinking else Image.Resampling.BICUBIC
    return np.asarray(Image.fromarray(image).resize((width, height), method), dtype=np.uint8)


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """Square-resize (N, H, W, 3) uint8 images; integer shrink factors use exact area averaging."""
    n, h, w = images.shape[:3]
    if (h, w) == (size, size):
        return images
    if h == w and h % size == 0:
        f = h // size
        blocks = images.reshape(n, size, f, size, f, 3).astype(np.float32)
        return np.rint(blocks.mean(axis=(2, 4))).astype(np.uint8)
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i, img in enumerate(images):
        out[i] = _resize_one(img, size, size)
    return out


def apply(images: np.ndarray, options: DataOptions) -> np.ndarray:
    """Centre crop (``--crop``) first, then resize (``--size``)."""
    if options.crop is not None:
        images = center_crop(images, options.crop)
    if options.size is not None:
        images = resize(images, options.size)
    return np.ascontiguousarray(images)


def stack_common_size(images: list[np.ndarray], notes: list[str]) -> np.ndarray:
    """Stack images into one square array: resize odd sizes to the most common one, crop non-square to square."""
    sizes = Counter(img.shape[:2] for img in images)
    (h, w), _ = sizes.most_common(1)[0]
    odd = sum(n for s, n in sizes.items() if s != (h, w))
    if odd:
        notes.append(f"resized {odd} image(s) of other sizes to the most common size {h}x{w}")
        images = [img if img.shape[:2] == (h, w) else _resize_one(img, h, w) for img in images]
    arr = np.stack(images)
    if h != w:
        side = min(h, w)
        notes.append(f"centre-cropped the {h}x{w} images to {side}x{side} (augdiff works on square images)")
        arr = center_crop(arr, side)
    return arr


def to_tensor_minus1_1(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float32 (N, C, H, W) in [-1, 1], the scale DDPMs train on (Ho et al. 2020, §4)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def from_tensor_minus1_1(x: torch.Tensor) -> np.ndarray:
    """float (N, C, H, W) in [-1, 1] -> uint8 (N, H, W, C), clipping values outside the range."""
    x = ((x.detach().float().cpu() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).contiguous().numpy()
