"""A per-image artefact statistic for generated H&E patches, judged against the real training split.

Haematoxylin and eosin stain tissue purple, pink and white; a pixel whose green channel dominates (G > R + 10
and G > B) does not occur in real H&E, but it does in the neon speckle and stripes an under-trained diffusion
decoder produces. The statistic is the share of such pixels in an image; an image is *flagged* when its share
exceeds both ``MIN_SHARE`` and the largest share among the real training images (the real data's own range).
"""

from __future__ import annotations

import numpy as np

GREEN_MARGIN = 10  # G must exceed R by this many 8-bit levels
MIN_SHARE = 0.01  # below 1 % of pixels an image is never flagged, whatever the real range


def green_share(images: np.ndarray) -> np.ndarray:
    """Share of green-dominant pixels per image, uint8 NHWC in, float (N,) out."""
    x = np.asarray(images).astype(np.int16)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    return ((g > r + GREEN_MARGIN) & (g > b)).mean(axis=(1, 2))


def threshold(real_images: np.ndarray) -> float:
    """The share above which a generated image lies outside the real training split's range."""
    return max(MIN_SHARE, float(green_share(real_images).max()) if len(real_images) else 0.0)


def flags(images: np.ndarray, real_images: np.ndarray) -> np.ndarray:
    """True for images whose artefact share lies outside the real range."""
    return green_share(images) > threshold(real_images)
