"""augdiff: generative data augmentation for small histopathology image sets."""

__version__ = "0.1.0"
