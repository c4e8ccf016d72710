"""Feature measuring (ADD paper §2.3, Eq. 7–9) and the reference code's variant of it.

``paper``: A(x) = mean FFT magnitude of the grayscale image under a radial high-pass mask M_h, computed per image.
The spectrum is orthonormal (``norm="ortho"``) so A does not depend on the image size, and bins with a radial
frequency below ``radius`` (a fraction of the Nyquist frequency) are masked out, which removes the DC term.

``reference``: what the authors' script actually computes (see docs/generators/add.md): unnormalised FFT,
fftshift, then the mean magnitude of the central row at horizontal offsets −10…−2 and +1…+9 from DC, i.e. low
frequencies along one axis. Their script used only the first image of a batch (batch size 1); here it is applied
per image, which is the same for batch size 1. Offsets that fall outside a small image are dropped.

The soft label of an intermediate image x_i of source x_s with full translation x_l is Eq. 9,
L = (A(x_s) − A(x_i)) / (A(x_s) − A(x_l)), clipped to [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch

from augdiff.errors import AugdiffError

MEASURES = ("paper", "reference")
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 grayscale
REFERENCE_OFFSETS = (*range(-10, -1), *range(1, 10))  # −10…−2 and +1…+9 around DC on the central row
# Below this |A(x_s) − A(x_l)| / A(x_s) the two ends are indistinguishable and Eq. 9 is undefined.
MIN_RELATIVE_SPAN = 1e-3


def as_float_images(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 NHWC (0..255) or float NCHW in [-1, 1] → float64 NCHW in [0, 1]."""
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError("numpy images must be uint8 (N, H, W, C)")
        return torch.from_numpy(images).permute(0, 3, 1, 2).double() / 255.0
    return (images.detach().double().cpu() + 1.0) / 2.0


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) → (N, H, W)."""
    if x.shape[1] == 1:
        return x[:, 0]
    w = torch.tensor(_LUMA, dtype=x.dtype)
    return torch.einsum("nchw,c->nhw", x, w)


def highpass_mask(size: int, radius: float) -> torch.Tensor:
    """M_h over the fftshift-ed spectrum: True where the radial frequency exceeds ``radius`` × Nyquist."""
    if not 0.0 < radius < 1.0:
        raise AugdiffError(f"highpass_radius={radius}: must be in (0, 1) (a fraction of the Nyquist frequency)")
    f = torch.fft.fftshift(torch.fft.fftfreq(size, dtype=torch.float64)) / 0.5  # −1 … <1, Nyquist = 1
    radial = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    return radial > radius


def paper_amplitude(images: np.ndarray | torch.Tensor, radius: float = 0.25) -> np.ndarray:
    """Eq. 7–8: A(x) per image, the mean orthonormal FFT magnitude of the grayscale image over M_h."""
    gray = grayscale(as_float_images(images))
    h, w = gray.shape[-2:]
    if h != w:
        raise ValueError("the feature measure expects square images")
    spec = torch.fft.fftshift(torch.fft.fft2(gray, norm="ortho"), dim=(-2, -1)).abs()
    mask = highpass_mask(h, radius)
    return spec[:, mask].mean(dim=1).numpy()


def reference_amplitude(images: np.ndarray | torch.Tensor) -> np.ndarray:
    """The reference script's number: mean |FFT| at the central-row offsets −10…−2, +1…+9 (low frequencies)."""
    gray = grayscale(as_float_images(images))
    h, w = gray.shape[-2:]
    spec = torch.fft.fftshift(torch.fft.fft2(gray), dim=(-2, -1)).abs()
    cols = [w // 2 + o for o in REFERENCE_OFFSETS if 0 <= w // 2 + o < w]
    return spec[:, h // 2, cols].mean(dim=1).numpy()


def amplitude(images: np.ndarray | torch.Tensor, measure: str, radius: float) -> np.ndarray:
    if measure == "paper":
        return paper_amplitude(images, radius)
    if measure == "reference":
        return reference_amplitude(images)
    raise AugdiffError(f"measure={measure!r}: choose one of {', '.join(MEASURES)}")


def soft_label(a_source: np.ndarray, a_image: np.ndarray, a_final: np.ndarray) -> np.ndarray:
    """Eq. 9 clipped to [0, 1]; NaN where source and final translation are indistinguishable."""
    a_source, a_image, a_final = (np.asarray(a, dtype=np.float64) for a in (a_source, a_image, a_final))
    span = a_source - a_final
    ok = np.abs(span) > MIN_RELATIVE_SPAN * np.maximum(np.abs(a_source), 1e-12)
    label = np.where(ok, (a_source - a_image) / np.where(ok, span, 1.0), np.nan)
    return np.where(ok, np.clip(label, 0.0, 1.0), np.nan)
