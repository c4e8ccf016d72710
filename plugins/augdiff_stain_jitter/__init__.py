"""``stain-jitter``: the classical-augmentation baseline, shaped exactly like a third-party plugin."""

from augdiff.hookspecs import hookimpl
from augdiff_stain_jitter.generator import StainJitter

__all__ = ["StainJitter"]


@hookimpl
def register_generators(register):  # type: ignore[no-untyped-def]
    register(StainJitter)
