"""ADD's feature measure (Eq. 7–9), the reference script's variant, and the depth rules built on them."""

from __future__ import annotations

import numpy as np
import pytest
from augdiff_add import depth, measure


def _blend_sequence(size: int = 16, steps: int = 11) -> np.ndarray:
    """A smooth image blended step by step into a high-frequency one (uint8, steps × H × W × 3)."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    smooth = 0.5 + 0.3 * np.sin(2 * np.pi * xx) * np.cos(np.pi * yy)
    checker = ((np.indices((size, size)).sum(0) % 2) * 2 - 1) * 0.2
    noise = np.random.default_rng(0).uniform(-0.2, 0.2, (size, size))
    sharp = np.clip(smooth + checker + noise, 0, 1)
    frames = [(1 - a) * smooth + a * sharp for a in np.linspace(0, 1, steps)]
    return np.stack([np.repeat(f[..., None], 3, axis=-1) * 255 for f in frames]).round().astype(np.uint8)


def test_paper_measure_is_monotone_and_labels_span_zero_to_one() -> None:
    seq = _blend_sequence()
    amp = measure.paper_amplitude(seq, radius=0.25)
    assert np.all(np.diff(amp) > 0)
    labels = measure.soft_label(np.full(len(seq), amp[0]), amp, np.full(len(seq), amp[-1]))
    assert labels[0] == 0 and labels[-1] == 1
    assert np.all(np.diff(labels) > 0)
    np.testing.assert_allclose(labels, np.linspace(0, 1, len(seq)), atol=0.02)  # linear blend → linear label


def test_paper_measure_ignores_brightness_and_low_frequencies() -> None:
    seq = _blend_sequence()
    brighter = np.clip(seq.astype(int) + 20, 0, 255).astype(np.uint8)
    # A constant offset only moves the DC bin, which M_h removes (up to the few clipped pixels).
    np.testing.assert_allclose(measure.paper_amplitude(brighter[:1]), measure.paper_amplitude(seq[:1]), rtol=0.05)
    assert measure.highpass_mask(16, 0.25)[8, 8].item() is False  # DC after fftshift


def test_reference_measure_reads_low_frequencies_of_the_central_row() -> None:
    size = 32
    xx = np.arange(size)
    # A horizontal cosine at 3 cycles per image lies in the reference's bins (offset ±3); a vertical one not.
    horizontal = 0.5 + 0.4 * np.cos(2 * np.pi * 3 * xx / size)[None, :].repeat(size, 0)
    vertical = horizontal.T
    imgs = (np.stack([horizontal, vertical])[..., None].repeat(3, -1) * 255).round().astype(np.uint8)
    ref = measure.reference_amplitude(imgs)
    assert ref[0] > 100 * ref[1]
    paper = measure.paper_amplitude(imgs, radius=0.25)  # 3 cycles of 16 (Nyquist) is below the high-pass cut
    assert paper[0] < 1e-3


def test_soft_label_is_clipped_and_undefined_without_contrast() -> None:
    label = measure.soft_label(np.array([1.0, 1.0, 1.0]), np.array([1.5, 0.2, 0.7]), np.array([0.5, 0.5, 1.0]))
    assert label[0] == 0 and label[1] == 1 and np.isnan(label[2])


def test_depth_search_hits_requested_labels_on_a_toy_trajectory() -> None:
    num_depths = 100
    # A smooth, monotone but strongly non-linear label curve with mild per-source differences.
    shifts = np.array([0.0, 10.0, -15.0])

    def curve(s: int, d: int) -> float:
        return float((1 / (1 + np.exp(-(d - 55 - shifts[s]) / 9)) - 1 / (1 + np.exp((55 + shifts[s]) / 9)))
                     / (1 / (1 + np.exp(-(num_depths - 1 - 55 - shifts[s]) / 9))
                        - 1 / (1 + np.exp((55 + shifts[s]) / 9))))

    calls: list[int] = []

    def labels(pairs: list[tuple[int, int]]) -> np.ndarray:
        calls.append(len(pairs))
        return np.array([curve(s, d) for s, d in pairs])

    targets = [0.1, 0.25, 0.5, 0.75, 1.0]
    choice = depth.search_depths(labels, 3, num_depths, targets, tol=0.02)
    assert np.all(np.abs(choice.label - np.array(targets)) <= 0.02)
    for s in range(3):
        for j in range(len(targets)):
            assert choice.label[s, j] == pytest.approx(curve(s, int(choice.depth_index[s, j])))
    assert choice.probes < 3 * len(targets) * 5  # far fewer decodes than a scan of 100 depths
    assert len(calls) == choice.rounds or len(calls) == choice.rounds - 1  # one batched call per round


def test_depth_search_spreads_depths_when_the_measure_is_undefined() -> None:
    choice = depth.search_depths(lambda pairs: np.full(len(pairs), np.nan), 1, 11, [0.5, 1.0])
    assert choice.depth_index.tolist() == [[5, 10]] and np.isnan(choice.label).all()


def test_reference_depth_rule_reverses_the_list_and_falls_back() -> None:
    # A latent measure that falls with depth (the low frequencies fade as √ᾱ shrinks): reversed it rises, and
    # depth index j is chosen where the measure of depth (S − 1 − j) crosses the target: mirrored depths.
    depths, fell_back = depth.reference_depths(np.linspace(1, 0, 50), 10)
    assert not fell_back
    assert depths.tolist() == [5, 10, 15, 20, 24, 29, 34, 39, 44, 49]  # 0.5 ties 24/49 and 25/49: first wins
    # A rising one: the first target is met near the end of the reversed list and the rest run out of indices.
    _, fell_back = depth.reference_depths(np.linspace(0, 1, 50), 10)
    assert fell_back
    # Fewer list entries than targets: the script's silent fallback to [T/10, …, 9T/10, T − 1].
    depths, fell_back = depth.reference_depths(np.linspace(0, 1, 5), 10)
    assert fell_back and depths.tolist() == depth.fallback_depths(5, 10).tolist()
    assert depth.fallback_depths(1000, 10).tolist() == [100, 200, 300, 400, 500, 600, 700, 800, 900, 999]
