"""Property test of ADD's depth search: whatever the label trajectory, every returned depth was measured."""

from __future__ import annotations

import numpy as np
from augdiff_add import depth
from hypothesis import given, settings
from hypothesis import strategies as st

finite = st.floats(0.0, 1.0, allow_nan=False)
# Adversarial trajectories: NaN anywhere, flat, saturated, non-monotone, or plain random.
label_value = st.one_of(finite, st.just(float("nan")), st.just(0.0), st.just(1.0), st.just(0.5))


@st.composite
def trajectories(draw: st.DrawFn) -> tuple[int, np.ndarray, list[float], float, int]:
    num_depths = draw(st.integers(1, 30))
    num_sources = draw(st.integers(1, 4))
    shape = draw(st.sampled_from(["random", "flat", "nan", "saturated", "monotone"]))
    if shape == "random":
        curves = np.array([[draw(label_value) for _ in range(num_depths)] for _ in range(num_sources)])
    elif shape == "flat":
        curves = np.full((num_sources, num_depths), draw(finite))
    elif shape == "nan":
        curves = np.full((num_sources, num_depths), np.nan)
    elif shape == "saturated":  # the label never reaches the upper targets until the full translation
        curves = np.minimum(np.linspace(0, 2, num_depths), draw(st.floats(0.0, 0.6)))[None].repeat(num_sources, 0)
    else:
        curves = np.sort(np.array([[draw(finite) for _ in range(num_depths)] for _ in range(num_sources)]), axis=1)
    targets = sorted(draw(st.lists(st.floats(0.01, 1.0), min_size=1, max_size=10)))
    return num_depths, curves, targets, draw(st.floats(0.0, 0.2)), draw(st.integers(0, 8))


@settings(max_examples=300, deadline=None)
@given(trajectories())
def test_every_returned_depth_was_measured_and_labels_are_the_measured_ones(case) -> None:
    num_depths, curves, targets, tol, rounds = case
    top = num_depths - 1
    measured: set[tuple[int, int]] = set()

    def measure(pairs: list[tuple[int, int]]) -> np.ndarray:
        assert all(0 <= d <= top for _, d in pairs), pairs  # only real depths are ever decoded
        measured.update(pairs)
        # The full translation is label 1 by Eq. 9 whenever the label is defined.
        return np.array([1.0 if d == top and not np.isnan(curves[s, d]) else curves[s, d] for s, d in pairs])

    choice = depth.search_depths(measure, len(curves), num_depths, targets, tol=tol, max_rounds=rounds)
    assert choice.depth_index.shape == choice.label.shape == (len(curves), len(targets))
    for s in range(len(curves)):
        defined = not np.isnan(choice.label[s]).any()
        for j in range(len(targets)):
            k = int(choice.depth_index[s, j])
            assert 0 <= k <= top
            assert (s, k) in measured or k == top  # the caller decoded the full translation itself
            if defined:
                expected = 1.0 if k == top else curves[s, k]
                assert choice.label[s, j] == expected
            else:
                assert np.isnan(choice.label[s]).all()  # an undefined source is undefined at every level
                assert k == depth.spread_depth(targets[j], num_depths)


def test_an_undefined_source_declared_up_front_is_never_searched_but_its_depths_are_decoded() -> None:
    seen: list[tuple[int, int]] = []

    def measure(pairs: list[tuple[int, int]]) -> np.ndarray:
        seen.extend(pairs)
        return np.array([0.5 if s == 0 else np.nan for s, _ in pairs])

    choice = depth.search_depths(measure, 2, 11, [0.5, 1.0], undefined=np.array([False, True]))
    assert choice.depth_index[1].tolist() == [5, 10]
    assert (1, 5) in seen and np.isnan(choice.label[1]).all()
    assert choice.label[0, 0] == 0.5
