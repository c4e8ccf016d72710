"""What a downstream classifier plugin provides: a named builder of an ``nn.Module`` for a given input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ClassifierSpec:
    """``register(ClassifierSpec("vit_base", build, "…"))``; ``build(num_classes, image_size, pretrained)``.

    ``build`` returns an untrained model producing logits of shape (B, num_classes) for (B, 3, S, S) input in
    [-1, 1]; ``pretrained`` is a local state-dict file or None (augdiff never downloads weights).
    """

    name: str
    build: Callable[[int, int, Path | None], nn.Module]
    description: str = ""
