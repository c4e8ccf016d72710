"""Procedural H&E-like tissue patches whose morphology is driven by a continuous stage s in [0, 1].

The picture is built the way a stained section forms, in optical density (Beer-Lambert): each pixel holds a
hematoxylin and an eosin concentration, and RGB = 255 * exp(-(c_H * v_H + c_E * v_E)). Mixing stains in optical
density, not in RGB, is what makes overlaps and pale areas read as H&E rather than as pink and purple paint.

Layers, all laid out in a 64-unit field of view so a patch shows the same tissue at any resolution:
- stroma: eosin with collagen fibres (noise filtered into streaks along a per-image direction) and sparse
  spindle-shaped fibroblast nuclei aligned with them;
- cellular regions (a smooth random field whose area grows with s): nuclei on a pale pink-purple cytoplasm;
- pale lumina (glands / fat) with a thin eosinophilic rim, fewer as the tissue becomes a solid sheet;
- per image: stain strength and hue drift, focus blur, sensor noise.

The stage s sets nuclear size, pleomorphism (size spread, elongation, irregular outline), cell density,
chromatin darkness and the nuclear/cytoplasm ratio, all monotonically, so a small CNN can regress s.
Everything is vectorised over a batch: nuclei are drawn as small stamps accumulated with ``np.bincount``.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage
from scipy.special import expit

FIELD = 64.0  # the field of view in native units; one unit is one pixel at the default 64-px render
GRID = 12  # candidate cell positions per side (a jittered grid keeps nuclei from piling up unrealistically)

# Stain optical-density directions (R, G, B): hematoxylin after Ruifrok & Johnston (2001); eosin tuned to the
# pink of PatchCamelyon stroma (the pure Ruifrok eosin renders magenta).
V_HEMATOXYLIN = np.array([0.65, 0.70, 0.29])
V_EOSIN = np.array([0.18, 0.90, 0.41])


def _lerp(a: float, b: float, s: np.ndarray) -> np.ndarray:
    return a + (b - a) * s


@functools.lru_cache(maxsize=32)
def _upsampler(lattice: int, size: int) -> np.ndarray:
    """(size, lattice) matrix: periodic band-limited (Fourier) interpolation with a soft Gaussian band edge."""
    spec = np.fft.rfft(np.eye(lattice), axis=0)
    spec *= np.exp(-(np.fft.rfftfreq(lattice) ** 2) / 0.08)[:, None]  # no ringing, no lattice look
    out = np.zeros((size // 2 + 1, lattice), dtype=np.complex128)
    keep = min(spec.shape[0], out.shape[0])
    out[:keep] = spec[:keep]
    if lattice % 2 == 0:
        out[lattice // 2] *= 0.5  # split the Nyquist bin so the interpolant stays real and symmetric
    a = np.fft.irfft(out, n=size, axis=0) * (size / lattice)
    # White noise through A W A^T has per-pixel variance (row sum of squares)^2, the same for every pixel
    # because the interpolation is shift-invariant: fold the normalisation into A (no per-image std pass).
    return (a / np.sqrt(np.mean(np.sum(a * a, axis=1)))).astype(np.float32)


def smooth_noise(rng: np.random.Generator, n: int, lattice: int, size: int) -> np.ndarray:
    """Periodic band-limited noise with zero mean and unit variance per pixel, (n, size, size).

    White noise is drawn on a fixed lattice and interpolated (separably, two small matrix products), so the
    field, and with it the tissue, is the same at every render size.
    """
    a = _upsampler(lattice, size)
    white = rng.standard_normal((n, lattice, lattice), dtype=np.float32)
    # Bracketed as A (W A^T): numpy's batched small-matrix loop, measured 10-100x faster here than the other
    # orders or one big BLAS call (whose thread start-up dominates at these sizes).
    return a @ (white @ a.T)


def _cells(
    rng: np.random.Generator,
    stages: np.ndarray,
    cellular: np.ndarray,
    lumen: np.ndarray,
    theta: np.ndarray,
    size: int,
) -> dict[str, np.ndarray]:
    """Sample cell candidates on a jittered grid; keep each with a probability set by its region and s."""
    n = len(stages)
    k = size / FIELD
    spacing = FIELD / GRID
    gy, gx = np.meshgrid(np.arange(GRID), np.arange(GRID), indexing="ij")
    y = (gy[None] + 0.5 + rng.uniform(-0.45, 0.45, (n, GRID, GRID))) * spacing
    x = (gx[None] + 0.5 + rng.uniform(-0.45, 0.45, (n, GRID, GRID))) * spacing
    s = stages[:, None, None] * np.ones((1, GRID, GRID))
    img = np.arange(n)[:, None, None] * np.ones((1, GRID, GRID), dtype=np.int64)
    py = np.clip((y * k).astype(np.int64), 0, size - 1)
    px = np.clip((x * k).astype(np.int64), 0, size - 1)
    region = cellular[img, py, px]
    open_ = 1.0 - lumen[img, py, px]
    u = rng.uniform(size=(n, GRID, GRID))
    density = _lerp(0.5, 0.9, s)
    epithelial = u < region * density * open_
    fibro = (~epithelial) & (rng.uniform(size=(n, GRID, GRID)) < 0.16 * (1 - region) * open_)
    keep = epithelial | fibro
    s, e = s[keep], epithelial[keep]
    m = int(keep.sum())

    # Stage-driven morphology (native units); the spreads are the pleomorphism.
    radius = _lerp(1.5, 3.0, s) * np.exp(rng.normal(0, 1, m) * _lerp(0.08, 0.30, s))
    aspect = 1.0 + np.abs(rng.normal(0, 1, m)) * _lerp(0.10, 0.45, s)
    angle = rng.uniform(0, np.pi, m)
    irregular = _lerp(0.02, 0.11, s)
    a2, a3 = rng.normal(0, 1, (2, m)) * irregular
    p2, p3 = rng.uniform(0, 2 * np.pi, (2, m))
    dark = _lerp(1.1, 1.7, s) * np.exp(rng.normal(0, 1, m) * _lerp(0.08, 0.18, s))
    # Fibroblasts: small, spindle-shaped, aligned with the collagen, no visible cytoplasm.
    f = ~e
    radius[f] = rng.uniform(1.2, 1.6, int(f.sum()))
    aspect[f] = rng.uniform(2.5, 3.5, int(f.sum()))
    angle[f] = np.repeat(theta, keep.reshape(n, -1).sum(1))[f] + rng.normal(0, 0.15, int(f.sum()))
    dark[f] = 1.1
    return {
        "img": img[keep],
        "y": y[keep] * k,
        "x": x[keep] * k,
        "r": radius * k,
        "aspect": aspect,
        "angle": angle,
        "a2": a2,
        "p2": p2,
        "a3": a3,
        "p3": p3,
        "dark": dark,
    }


def _stamp(cells: dict[str, np.ndarray], n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw every nucleus as a small stamp; return (hematoxylin, coverage) maps, each (n, size, size).

    Stamps are grouped by size so each group is one vectorised computation, and overlapping stamps are summed
    with ``np.bincount`` (overlapping nuclei in a section do look darker).
    """
    total = n * size * size
    hema = np.zeros(total)
    cover = np.zeros(total)
    # The outline is r * (1 + a2 cos 2(..) + a3 cos 3(..)) on an ellipse of aspect a: this bounds its reach.
    extent = cells["r"] * np.sqrt(cells["aspect"]) * (1 + np.abs(cells["a2"]) + np.abs(cells["a3"])) + 1.0
    half_all = np.ceil(extent).astype(np.int64)
    for half in np.unique(half_all):
        sel = half_all == half
        c = {key: v[sel][:, None, None].astype(np.float32) for key, v in cells.items() if key != "img"}
        img = cells["img"][sel][:, None, None]
        off = np.arange(-half, half + 1)
        cy = np.floor(c["y"]).astype(np.int64)
        cx = np.floor(c["x"]).astype(np.int64)
        dy = (cy + off[None, :, None] + 0.5 - c["y"]).astype(np.float32)  # (m, w, 1)
        dx = (cx + off[None, None, :] + 0.5 - c["x"]).astype(np.float32)  # (m, 1, w)
        sq = np.sqrt(c["aspect"])
        cos, sin = np.cos(c["angle"]) / (c["r"] * sq), np.sin(c["angle"]) / (c["r"] * sq)
        # Ellipse-normalised coordinates: the nucleus is the unit disc (before its outline is made irregular).
        uu = dx * cos + dy * sin
        vv = (dy * cos - dx * sin) * c["aspect"]
        u2, v2 = uu * uu, vv * vv
        rho2 = u2 + v2 + 1e-6
        rho = np.sqrt(rho2)
        # Irregular outline 1 + a2 cos 2(phi - p2) + a3 cos 3(phi - p3), the cosines written as polynomials in
        # (u, v) / rho so no atan2 is needed per pixel.
        lobe2 = ((u2 - v2) * np.cos(2 * c["p2"]) + 2 * uu * vv * np.sin(2 * c["p2"])) / rho2
        lobe3 = (uu * (u2 - 3 * v2) * np.cos(3 * c["p3"]) + vv * (3 * u2 - v2) * np.sin(3 * c["p3"])) / (
            rho2 * rho
        )
        d = rho / (1 + c["a2"] * lobe2 + c["a3"] * lobe3)
        # One unit of d is about r pixels, so this is a one-pixel anti-aliased edge.
        cov = np.clip(0.5 + (1.0 - d) * c["r"], 0.0, 1.0)
        # Chromatin: a slightly darker rim than centre, the darkness itself set by the stage.
        stain = cov * c["dark"] * (0.82 + 0.18 * np.minimum(d, 1.0))
        row = (img * size + (cy + off[None, :, None]) % size) * size
        flat = (row + (cx + off[None, None, :]) % size).ravel()
        hema += np.bincount(flat, stain.ravel(), total)
        cover += np.bincount(flat, cov.ravel(), total)
    shape = (n, size, size)
    return hema.astype(np.float32).reshape(shape), cover.astype(np.float32).reshape(shape)


def _streaks(rng: np.random.Generator, theta: np.ndarray, size: int) -> np.ndarray:
    """Fibre texture in [0, 1], (n, size, size): white noise low-passed along theta, high-passed across it.

    The noise is drawn on the native 64-unit grid and filtered there; the spectrum is then zero-padded (or
    truncated) to ``size``, so larger renders show the same fibres with finer edges.
    """
    n, native = len(theta), int(FIELD)
    spec = np.fft.rfft2(rng.standard_normal((n, native, native), dtype=np.float32))
    fy = np.fft.fftfreq(native)[None, :, None]  # cycles per native unit
    fx = np.fft.rfftfreq(native)[None, None, :]
    c, s = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    along = fx * c + fy * s
    across = fy * c - fx * s
    spec *= np.exp(-((along / 0.03) ** 2)) * np.exp(-((across / 0.3) ** 2)) * (np.abs(across) > 0.02)
    keep = min(native, size) // 2
    out = np.zeros((n, size, size // 2 + 1), dtype=np.complex128)
    out[:, :keep, :keep] = spec[:, :keep, :keep]
    out[:, size - keep :, :keep] = spec[:, native - keep :, :keep]
    field = np.fft.irfft2(out, s=(size, size)).astype(np.float32)
    field /= field.std(axis=(1, 2), keepdims=True) + 1e-6
    return np.clip(0.5 + 0.35 * field, 0, 1) ** 2


def _blur(x: np.ndarray, amount: np.ndarray, k: float) -> np.ndarray:
    """Per-image focus: mix each image with its periodic Gaussian blur (sigma 0.8 native units) by ``amount``."""
    sigma = 0.8 * k
    blurred = ndimage.gaussian_filter1d(x, sigma, axis=1, mode="wrap", truncate=3.0)
    blurred = ndimage.gaussian_filter1d(blurred, sigma, axis=2, mode="wrap", truncate=3.0)
    a = amount.astype(np.float32)[:, None, None, None]
    return x + a * (blurred - x)


def render(stages: np.ndarray, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """Render one patch per stage: uint8 (n, size, size, 3). Same rng state and stages → same tissue.

    Call it on blocks of a few dozen images: the arrays then stay in cache, which is several times faster.
    """
    stages = np.clip(np.asarray(stages, dtype=np.float32), 0.0, 1.0)
    n = len(stages)
    k = size / FIELD
    s3 = stages[:, None, None]
    # Tissue layout: where cells are (grows with s) and where the pale lumina are (shrink with s).
    cellular = expit((smooth_noise(rng, n, 8, size) - _lerp(0.5, -1.6, s3)) * 3.0)
    lumen = expit((smooth_noise(rng, n, 6, size) - _lerp(1.3, 2.2, s3)) * 14.0)
    # Collagen: streaks along a per-image direction; squaring gives dense bundles separated by pale clefts.
    theta = rng.uniform(0, np.pi, n)
    fibre = _streaks(rng, theta, size)
    texture = smooth_noise(rng, n, 32, size)  # fine grain shared by stroma and chromatin
    loose = expit(smooth_noise(rng, n, 8, size) * 2.0)  # loose vs dense stroma
    stroma_e = (0.3 + 0.7 * fibre * (0.4 + 0.6 * loose)) * (1 + 0.12 * texture)

    cells = _cells(rng, stages, cellular, lumen, theta, size)
    nuc_h, nuc_cov = _stamp(cells, n, size)
    nuc_cov = np.minimum(nuc_cov, 1)
    nuc_h = np.minimum(nuc_h, 2.6) * (1 + 0.18 * texture)

    # Compose stain concentrations. Between the nuclei of a cellular region lies cytoplasm: paler eosin with a
    # little hematoxylin, so the nuclear/cytoplasm ratio is the nuclear area fraction there, which grows with s.
    e = (1 - cellular) * stroma_e + cellular * 0.6 * (1 + 0.1 * texture)
    e = e * (1 - 0.6 * nuc_cov)
    h = 0.04 + cellular * 0.15 + nuc_h
    open_ = 1 - 0.93 * lumen
    e, h = e * open_, h * open_
    e = e + 1.2 * lumen * (1 - lumen)  # a thin eosinophilic rim (membrane / basement membrane) around lumina

    # Per-image staining variation: stain strength and hue drift (independent of s, so colour alone is no cue).
    v_h = (V_HEMATOXYLIN + rng.normal(0, 0.04, (n, 3))) * np.exp(rng.normal(0, 0.12, (n, 1)))
    v_e = (V_EOSIN + rng.normal(0, 0.04, (n, 3))) * np.exp(rng.normal(0, 0.15, (n, 1)))
    od = (
        h[..., None] * v_h.astype(np.float32)[:, None, None, :]
        + e[..., None] * v_e.astype(np.float32)[:, None, None, :]
    )
    rgb = 255.0 * np.exp(-od)
    rgb = _blur(rgb, rng.uniform(0.35, 0.9, n), k)
    rgb += 2.0 * rng.standard_normal(rgb.shape, dtype=np.float32)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
