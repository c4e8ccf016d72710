"""Denoising networks. ``adm`` holds the ADM-style U-Net (Dhariwal & Nichol 2021) used by ADD and IDDPM."""

from augdiff.diffusion.models.adm import ATTENTION_KINDS, ADMUNet, attention_kind_of

__all__ = ["ATTENTION_KINDS", "ADMUNet", "attention_kind_of"]
