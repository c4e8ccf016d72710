"""WGAN-GP (Gulrajani et al. 2017) with ProGAN's drift term (Karras et al. 2018, Appendix A.1)."""

from __future__ import annotations

from collections.abc import Callable

import torch

Critic = Callable[[torch.Tensor], torch.Tensor]


def gradient_penalty(
    critic: Critic, real: torch.Tensor, fake: torch.Tensor, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Mean of (‖∇_x̂ D(x̂)‖₂ − 1)² at x̂ = ε·real + (1 − ε)·fake, ε ~ U[0, 1] per sample."""
    eps = torch.rand(len(real), 1, 1, 1, generator=generator, device=real.device, dtype=real.dtype)
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def discriminator_loss(
    critic: Critic,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    gp_weight: float = 10.0,
    drift: float = 0.001,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """D(fake) − D(real) + λ·GP + ε_drift·D(real)²; the drift keeps the critic's output near zero."""
    real_scores, fake_scores = critic(real), critic(fake.detach())
    gp = gradient_penalty(critic, real, fake, generator=generator)
    wasserstein = fake_scores.mean() - real_scores.mean()
    loss = wasserstein + gp_weight * gp + drift * real_scores.pow(2).mean()
    return loss, {"d_loss": loss.item(), "w_dist": -wasserstein.item(), "gp": gp.item()}


def generator_loss(critic: Critic, fake: torch.Tensor) -> torch.Tensor:
    return -critic(fake).mean()
