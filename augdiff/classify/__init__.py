"""Downstream classifiers (timm) trained on real, generated and mixed sets."""
