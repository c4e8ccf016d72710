"""ADD's configuration logic: domains, the models each attention mode needs, and sample bookkeeping."""

from __future__ import annotations

import pytest
from augdiff_add.generator import PROFILES, AddGenerator, AddProGenerator, resolve_domains

from augdiff import plugins
from augdiff.errors import AugdiffError


def test_both_generators_are_registered_and_share_the_add_fit() -> None:
    assert plugins.get_generator("add") is AddGenerator
    assert plugins.get_generator("add-pro") is AddProGenerator
    assert AddProGenerator.fitted_under() == "add"
    # Everything add-pro may be asked to change at augment time is a sampling option of add's fit.
    assert {"sample_steps", "measure", "levels", "highpass_radius"} <= set(AddGenerator.sampling_options)


def test_domains_default_to_normal_tumor_then_to_the_first_two_classes() -> None:
    assert resolve_domains(["tumor", "normal"], None, None)[:2] == (1, 0)
    a, b, note = resolve_domains(["type1", "type2"], None, None)  # pRCC
    assert (a, b) == (0, 1) and "type1 → type2" in note
    assert resolve_domains(["type1", "type2"], "type2", "type1")[:2] == (1, 0)
    with pytest.raises(AugdiffError, match="source_class=benign"):
        resolve_domains(["normal", "tumor"], "benign", "tumor")
    with pytest.raises(AugdiffError, match="two different"):
        resolve_domains(["normal", "tumor"], "tumor", "tumor")


@pytest.mark.parametrize(
    ("attention", "bidirectional", "expected"),
    [
        ("hybrid", False, [(0, "global"), (1, "local")]),  # HAS: encoder global, decoder local
        ("hybrid", True, [(0, "global"), (1, "local"), (1, "global"), (0, "local")]),
        ("global", True, [(0, "global"), (1, "global")]),  # the paper's no-HAS ablation
        ("local", False, [(0, "local"), (1, "local")]),
    ],
)
def test_required_models_follow_the_attention_mode(attention: str, bidirectional: bool, expected: list) -> None:
    config = {**PROFILES["smoke"], "attention": attention, "bidirectional": bidirectional}
    assert AddGenerator(config, ["normal", "tumor"]).required_models() == expected


def test_unknown_attention_mode_is_a_user_error() -> None:
    with pytest.raises(AugdiffError, match="attention=dense"):
        AddGenerator({**PROFILES["smoke"], "attention": "dense"}, ["normal", "tumor"])
