"""RandAugment (Cubuk et al., 2020) restricted to H&E-safe operations, after Faryna et al. (MIDL 2021).

Faryna, van der Laak and Litjens, "Tailoring automated data augmentation to H&E-stained histopathology": keep
RandAugment's two knobs (N operations per image, shared magnitude M) but swap its operation list for one suited to
H&E — drop Solarize, Posterize and Invert, add HSV and HED colour shifts. Their code (DIAGNijmegen/
pathology-he-auto-augment, read for behaviour, not copied) uses 13 operations: Identity, Rotate, ShearX/Y,
TranslateX/Y, Brightness, Contrast, Color, Sharpness, Equalize, HSV and HED, and draws each layer's magnitude
uniformly from [0, M] on a 0–10 scale with a random sign; both are kept here. Where augdiff departs:

* colour enhancements use timm's "increasing" mapping, factor 1 ± 0.9·m (m = M/10), so M is a strength; the
  authors inherit AutoAugment's factor 0.1 + 1.8·m, for which level 5 is the identity and M=9 cannot brighten
  past 1.72 but darkens to 0.1;
* the hue shift is capped at ±0.05·m of the colour circle (the authors allow ±0.03·M, i.e. ±97° at M=9, which
  can turn eosin pink orange or blue); saturation keeps their ±0.03·M;
* Equalize works on luminance only: per-channel equalisation gives every channel the same histogram, which
  turns an H&E image grey;
* geometric operations reflect at the border instead of filling with grey, which would paint non-tissue corners;
* HED is this project's OD-space jitter (:class:`augdiff.classify.stain.HEDJitter`), scale ±0.3·m and shift
  ±0.1·m OD per stain;
* operations are drawn with replacement (as RandAugment does) but applied in list order (albumentations' SomeOf).

Neither library's own RandAugment fits: albumentations 2.0.x has none, and timm's ``rand_augment_transform``
works on PIL images, draws from Python's global ``random`` (not reproducible per seed without process-wide state)
and has no stain operation. Flips and 90° rotations are not here: the base ``train_transform`` already has them.
"""

from __future__ import annotations

import math

import albumentations as A
import cv2

from augdiff.classify.albu import seeded_compose
from augdiff.classify.stain import HEDJitter

MAX_LEVEL = 10.0  # RandAugment's magnitude scale (timm, the authors' code)
HE_OPS: tuple[str, ...] = (
    "identity", "rotate", "shear_x", "shear_y", "translate_x", "translate_y",
    "brightness", "contrast", "color", "sharpness", "equalize", "hsv", "hed",
)
_REFLECT = cv2.BORDER_REFLECT_101


def _jitter(**kwargs: float) -> A.ColorJitter:
    # ColorJitter with every other component at identity; a float v means factors in [1 − v, 1 + v].
    values = {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0, **kwargs}
    return A.ColorJitter(**values, p=1.0)


def he_op(name: str, m: float) -> A.BasicTransform:
    """One operation at magnitude ``m`` (0–10): parameters drawn uniformly in [−max·m/10, +max·m/10]."""
    level = m / MAX_LEVEL
    shear = math.degrees(math.atan(0.3 * level))  # RandAugment's shear 0.3 is a slope; albumentations takes degrees
    ops = {
        "identity": lambda: A.NoOp(p=1.0),
        "rotate": lambda: A.Affine(rotate=(-30 * level, 30 * level), border_mode=_REFLECT, p=1.0),
        "shear_x": lambda: A.Affine(shear={"x": (-shear, shear), "y": (0, 0)}, border_mode=_REFLECT, p=1.0),
        "shear_y": lambda: A.Affine(shear={"x": (0, 0), "y": (-shear, shear)}, border_mode=_REFLECT, p=1.0),
        # The authors translate by up to 10 px (their patches are ~100 px); as a fraction it suits any size.
        "translate_x": lambda: A.Affine(translate_percent={"x": (-0.1 * level, 0.1 * level), "y": (0, 0)},
                                        border_mode=_REFLECT, p=1.0),
        "translate_y": lambda: A.Affine(translate_percent={"x": (0, 0), "y": (-0.1 * level, 0.1 * level)},
                                        border_mode=_REFLECT, p=1.0),
        "brightness": lambda: _jitter(brightness=0.9 * level),
        "contrast": lambda: _jitter(contrast=0.9 * level),
        "color": lambda: _jitter(saturation=0.9 * level),
        "sharpness": lambda: A.Sharpen(alpha=(0.0, min(1.0, 0.9 * level)), lightness=(1.0, 1.0), p=1.0),
        "equalize": lambda: A.Equalize(by_channels=False, p=1.0),
        "hsv": lambda: _jitter(saturation=0.3 * level, hue=0.05 * level),
        "hed": lambda: HEDJitter(scale_limit=0.3 * level, shift_limit=0.1 * level, p=1.0),
    }
    if name not in ops:
        raise ValueError(f"unknown RandAugment operation {name!r}: expected one of {sorted(ops)}")
    return ops[name]()


def randaugment_transform(seed: int, n: int = 2, m: float = 9, ops: tuple[str, ...] = HE_OPS) -> A.Compose:
    """Seeded H&E RandAugment: per image, ``n`` operations drawn with replacement from ``ops`` at magnitude ``m``.

    uint8 HWC in and out; the same ``seed`` replays the same stream. Apply it after the base ``train_transform``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0 <= m <= MAX_LEVEL:
        raise ValueError(f"m must be in [0, {MAX_LEVEL:g}], got {m}")
    return seeded_compose([A.SomeOf([he_op(name, m) for name in ops], n=n, replace=True, p=1.0)], seed)
