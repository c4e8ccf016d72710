"""The built-in metrics. Each returns its value(s), the sample counts and a description of how it was computed."""

from __future__ import annotations

from typing import Any

from augdiff.errors import AugdiffError
from augdiff.metrics import domain, lpips_div, memorisation
from augdiff.metrics.context import EvalContext, small_sample_warnings
from augdiff.metrics.frechet import frechet_distance_features, kernel_distance
from augdiff.metrics.inception import POOL3_DIM, SPATIAL_CHANNELS
from augdiff.metrics.registry import MetricUnavailable, register_metric

DOMAIN_NOTE = "not comparable to published FID: features of a small CNN trained on this real set"


@register_metric("fid", "Fréchet Inception distance, Inception-v3 pool3 (2048-d)", lower_is_better=True)
def fid(ctx: EvalContext) -> dict[str, Any]:
    real, fake = ctx.inception_real.pool3, ctx.inception_fake.pool3
    return {
        "value": frechet_distance_features(real, fake), **ctx.counts,
        "method": f"Fréchet distance of Gaussians fitted to Inception-v3 pool3 features ({POOL3_DIM}-d)",
        **ctx.inception_info(), "warnings": small_sample_warnings(len(real), len(fake)),
    }


@register_metric("kid", "Kernel Inception distance (unbiased MMD², cubic kernel)", lower_is_better=True)
def kid(ctx: EvalContext) -> dict[str, Any]:
    o = ctx.options
    result = kernel_distance(ctx.inception_real.pool3, ctx.inception_fake.pool3, rng=ctx.rng("kid"),
                             subsets=o.kid_subsets, max_subset_size=o.kid_subset_size)
    return {
        "value": result.mean, "std": result.std, **ctx.counts, "subsets": result.subsets,
        "subset_size": result.subset_size,
        "method": "unbiased MMD² with k(x,y) = (x·y/2048 + 1)³ on Inception-v3 pool3 features, mean ± std over "
                  "random subsets (as clean-fid / torch-fidelity)",
        **ctx.inception_info(),
    }


@register_metric("sfid", "Fréchet distance on Inception mixed_6/conv spatial features (7×17×17)", lower_is_better=True)
def sfid(ctx: EvalContext) -> dict[str, Any]:
    if not ctx.inception_extractor.has_spatial:
        raise MetricUnavailable(
            f"sFID is unavailable with this feature network ({ctx.inception_extractor.path} does not expose "
            "mixed_6/conv)"
        )
    real, fake = ctx.inception_real.spatial, ctx.inception_fake.spatial
    assert real is not None and fake is not None
    return {
        "value": frechet_distance_features(real, fake), **ctx.counts,
        "method": f"Fréchet distance on the first {SPATIAL_CHANNELS} channels of mixed_6/conv (17×17), flattened to "
                  f"{real.shape[1]}-d, as in ADM's evaluator (Nash et al. 2021)",
        **ctx.inception_info(), "warnings": small_sample_warnings(len(real), len(fake)),
    }


@register_metric("lpips_diversity", "Mean pairwise LPIPS among generated images", lower_is_better=False)
def lpips_diversity(ctx: EvalContext) -> dict[str, Any]:
    o = ctx.options
    backbone = lpips_div.resolve_backbone(o.lpips_net, o.lpips_backbone)
    model = lpips_div.load_lpips(o.lpips_net, str(backbone), ctx.device)
    result = lpips_div.lpips_diversity(model, ctx.fake, rng=ctx.rng("lpips"), max_pairs=o.lpips_pairs,
                                       device=ctx.device)
    return {
        "value": result.mean, "std": result.std, "n_fake": len(ctx.fake), "pairs": result.pairs,
        "method": f"LPIPS v0.1 ({o.lpips_net}) between random pairs of generated images (all pairs when at most "
                  f"{o.lpips_pairs}); images below {lpips_div.MIN_SIZE} px are upsampled bilinearly",
        "backbone": str(backbone),
    }


@register_metric("domain_fd", "Fréchet distance in a classifier trained on the real set", lower_is_better=True)
def domain_fd(ctx: EvalContext) -> dict[str, Any]:
    real, fake = ctx.domain_real, ctx.domain_fake
    return {
        "value": frechet_distance_features(real, fake), **ctx.counts, "note": DOMAIN_NOTE,
        "method": f"Fréchet distance of Gaussians fitted to the {domain.FEATURE_DIM}-d pooled features of a small "
                  "CNN trained (seeded) to classify the real images",
        "feature_net": domain.describe(ctx.domain_net),
        "warnings": small_sample_warnings(len(real), len(fake), minimum=10 * domain.FEATURE_DIM),
    }


@register_metric("memorisation", "Share of generated images that are near-copies of a training image",
                 lower_is_better=None)
def memorisation_share(ctx: EvalContext) -> dict[str, Any]:
    o = ctx.options
    side = min(memorisation.PIXEL_SIDE, *ctx.real.shape[1:3], *ctx.fake.shape[1:3])
    pixel = memorisation.two_nearest(memorisation.downscale(ctx.fake, side), memorisation.downscale(ctx.real, side))
    spaces = {"inception_pool3": lambda: (ctx.inception_fake.pool3, ctx.inception_real.pool3),
              "domain": lambda: (ctx.domain_fake, ctx.domain_real)}
    unknown = sorted(set(o.memorisation_features) - set(spaces))
    if unknown:
        raise AugdiffError(f"memorisation_features: unknown {', '.join(unknown)}; choose from {', '.join(spaces)}")
    features: dict[str, Any] = {}
    for name in o.memorisation_features:
        try:
            fake_f, real_f = spaces[name]()
        except MetricUnavailable as exc:
            features[name] = {"unavailable": str(exc)}
            continue
        nb = memorisation.two_nearest(fake_f, real_f)
        features[name] = memorisation.summarise(nb, o.memorisation_ratio) | {
            "nearest": nb.index.tolist(), "agrees_with_pixel_nearest": float((nb.index == pixel.index).mean())}
    pairs = memorisation.closest_pairs(pixel, o.closest_pairs)
    png = None
    if o.out_dir is not None:
        png = str(memorisation.pairs_png(ctx.fake, ctx.real, pairs, o.out_dir / "closest_pairs.png"))
    return {
        "value": memorisation.summarise(pixel, o.memorisation_ratio)["near_copy_share"], **ctx.counts,
        "pixel": memorisation.summarise(pixel, o.memorisation_ratio) | {"side": side,
                                                                         "nearest": pixel.index.tolist()},
        "features": features, "ratio_threshold": o.memorisation_ratio,
        "method": f"nearest training image per generated image; near-copy when d1 < {o.memorisation_ratio:.3g}·d2 "
                  f"(nearest vs second-nearest, RMS distance) or d1 = 0; pixels box-downscaled to {side} px",
        "closest_pairs": pairs, "png": png,
    }
