"""LoFGAN's losses (Gu et al., ICCV 2021) with the weights of the authors' configs.

D: hinge on real and fake scores, cross-entropy of its class head on real images, and a gradient penalty on the
true-class logit of real images. G: −D(fake), cross-entropy of D's class head on the fake (the class of its
references), and the local reconstruction loss (LRL).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from augdiff_lofgan.networks import fuse_at


def d_hinge(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(E[max(0, 1 − D(x))], E[max(0, 1 + D(G(x)))]): the real and fake halves of the hinge loss."""
    return F.relu(1.0 - real_scores).mean(), F.relu(1.0 + fake_scores).mean()


def g_hinge(fake_scores: torch.Tensor) -> torch.Tensor:
    return -fake_scores.mean()


def class_logit_penalty(logits: torch.Tensor, labels: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """‖∇_x mean_i D_cls(x_i)[y_i]‖² / N, the authors' (FUNIT's) ``calc_grad2`` on real images.

    The gradient is of the batch *mean*, so this is N² times weaker than a per-sample R1 penalty; kept as the
    authors have it because their ``w_gp = 10`` is tuned to this scale. ``images`` must require grad.
    """
    picked = logits.gather(1, labels[:, None]).mean()
    (grad,) = torch.autograd.grad(picked, images, create_graph=True)
    return grad.pow(2).sum() / len(images)


def downsample(images: torch.Tensor, size: int) -> torch.Tensor:
    # Nearest-neighbour, as the authors' F.interpolate(x, size=s): one pixel per feature cell.
    return F.interpolate(images, size=size, mode="nearest")


def local_reconstruction_loss(
    refs: torch.Tensor, fake: torch.Tensor, coeffs: torch.Tensor, positions: torch.Tensor,
    ref_positions: torch.Tensor, size: int,
) -> torch.Tensor:
    """L1 between the fake and the same local fusion applied to the references, both at the feature grid size.

    refs (B, k, 3, H, W) with the base first; positions / ref_positions are what the generator's LFM used on its
    ``size``×``size`` feature grid.
    """
    b, k, c = refs.shape[:3]
    small = downsample(refs.flatten(0, 1), size).view(b, k, c, size, size)
    target = fuse_at(small[:, 0], small[:, 1:], coeffs, positions, ref_positions)
    return (downsample(fake, size) - target).abs().mean()
