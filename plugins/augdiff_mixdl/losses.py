"""MixDL's mixup-based distance loss (Kong et al., ECCV 2022) and the StyleGAN2 losses it is added to.

A mixup step draws B anchor latents w_1..w_B and, for each of B mixed samples, coefficients c_i ~ Dir(α·1_B);
the mixed latent is w̃_i = Σ_j c_ij w_j. For a feature map f (a generator layer, or the discriminator's projected
features) the similarities s_ij = cos(f(w̃_i), f(w_j)) become a distribution p_i = softmax(s_i / τ), which is
pulled towards q_i = softmax(c_i / τ) by KL(q_i ‖ p_i): a mixed sample should be as similar to each anchor as it
is made of it. The authors' code applies the softmax to c as well and uses τ = 1; their KL is
``nn.KLDivLoss()``'s default element-wise mean (over all B·B entries), so their weights (1000 for G, 1 for D)
apply to that reduction.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def mixup_coefficients(
    rows: int, anchors: int, concentration: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(rows, anchors) coefficients, each row ~ Dirichlet(concentration·1): non-negative and summing to 1.

    torch's Dirichlet sampler takes no ``torch.Generator``; a NumPy generator seeded from ``generator`` keeps the
    draw reproducible (and so resumable) without touching global RNG state.
    """
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    draws = np.random.default_rng(seed).dirichlet(np.full(anchors, float(concentration)), size=rows)
    return torch.from_numpy(draws).float()


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, M) cosine similarities between the rows of ``a`` (N, …) and ``b`` (M, …), each flattened."""
    return F.normalize(a.flatten(1), dim=1) @ F.normalize(b.flatten(1), dim=1).T


def distance_loss(similarities: torch.Tensor, coeffs: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """mean_ij q_ij (log q_ij − log p_ij) with p = softmax(s/τ), q = softmax(c/τ), rows i (the authors' reduction).

    Zero exactly when each row of ``similarities`` equals that row of ``coeffs`` up to an additive constant.
    """
    log_p = F.log_softmax(similarities / temperature, dim=1)
    log_q = F.log_softmax(coeffs / temperature, dim=1)
    return (log_q.exp() * (log_q - log_p)).mean()


def generator_similarities(
    mixed_feats: list[torch.Tensor], anchor_feats: list[torch.Tensor], layers: torch.Tensor
) -> torch.Tensor:
    """Row i: cos(mixed_i, anchor_j) at generator layer ``layers[i]`` (the authors draw one layer per row)."""
    rows = []
    for i, layer in enumerate(layers.tolist()):
        rows.append(cosine_matrix(mixed_feats[layer][i : i + 1], anchor_feats[layer])[0])
    return torch.stack(rows)


def d_logistic(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """softplus(−D(x)) + softplus(D(G(z))), means over all scores (image or patch)."""
    return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()


def g_nonsaturating(fake_scores: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake_scores).mean()


def r1_penalty(real_scores: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """E‖∇_x D(x)‖² over real images (Mescheder et al. 2018); ``real`` must require grad."""
    (grad,) = torch.autograd.grad(real_scores.sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()
