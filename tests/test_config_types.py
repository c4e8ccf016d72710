"""``--set KEY=VALUE`` is checked against the profile's type before any work: one line, exit 2, no run folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from augdiff import plugins
from augdiff.cli import create_app
from augdiff.errors import AugdiffError

GENERATORS = plugins.generators()
# The training budget, the learning rate and the batch size of each built-in generator (stain-jitter has no
# training: its jitter strength and probability instead).
KEYS = ("steps", "phase_images", "lr", "batch_size", "jitter_scale", "p_stain")
WRONG = ("abc", '"10"', "true", "[1]")


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for name, reg in GENERATORS.items():
        keys = [k for k in KEYS if k in reg.obj.profiles["smoke"]]
        assert keys, f"generator {name} has none of {KEYS}: add its budget/lr key to this test"
        cases += [(name, key, raw) for key in keys for raw in WRONG]
    return cases


@pytest.mark.parametrize(("generator", "key", "raw"), _cases())
def test_wrong_typed_set_is_one_line_exit_2_and_leaves_no_run(  # type: ignore[no-untyped-def]
    generator: str, key: str, raw: str, tmp_path: Path, runner
) -> None:
    runs = tmp_path / "runs"
    result = runner.invoke(create_app(), [
        "fit", generator, "--data", "synth-histo", "--profile", "smoke", "--runs-dir", str(runs),
        "--set", f"{key}={raw}",
    ])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert f"--set {key}=" in lines[0] and "expected " in lines[0] and "smoke profile's value is" in lines[0]
    assert not runs.exists() or not any(runs.rglob("run.json")), "a rejected --set must not start a run"


def test_message_follows_the_option_error_phrasing() -> None:
    ddpm = GENERATORS["ddpm-pcam"].obj
    with pytest.raises(AugdiffError) as info:
        ddpm.from_profile("cpu", [], {"steps": "abc"})
    assert str(info.value) == "--set steps='abc': expected an integer or null (the cpu profile's value is 5000)"
    iddpm = GENERATORS["iddpm"].obj
    with pytest.raises(AugdiffError) as info:
        iddpm.from_profile("cpu", [], {"steps": "10"})
    assert str(info.value) == "--set steps='10': expected an integer (the cpu profile's value is 2000)"


def _wrong_for(kinds: tuple[Any, ...]) -> list[Any]:
    """Values of none of ``kinds``."""
    candidates: list[Any] = ["abc", 1.5, 3, True, None, [1], ["x"], {"a": 1}]
    from augdiff.generator import _has_kind

    return [v for v in candidates if not _has_kind(v, kinds)]


@pytest.mark.parametrize("generator", sorted(GENERATORS))
def test_every_key_of_every_generator_rejects_every_other_type(generator: str) -> None:
    cls = GENERATORS[generator].obj
    for key in cls.profiles["smoke"]:
        kinds = cls.option_kinds(key)
        if kinds is None:
            continue  # null in every profile and nothing declared: the generator checks the value itself
        for value in _wrong_for(kinds):
            with pytest.raises(AugdiffError, match=rf"^--set {key}=.*: expected "):
                cls.check_overrides("smoke", {key: value})


@pytest.mark.parametrize("generator", sorted(GENERATORS))
def test_every_profiles_own_values_are_accepted_in_every_profile(generator: str) -> None:
    cls = GENERATORS[generator].obj
    for profile, config in cls.profiles.items():
        for other in cls.profiles.values():
            overrides = {k: v for k, v in other.items() if k in config}
            assert cls.check_overrides(profile, overrides) == overrides


@pytest.mark.parametrize(("generator", "overrides"), [
    ("ddpm-pcam", {"lr": 1}),  # an integer is a number
    ("ddpm-pcam", {"attention": [2]}),  # declared: a list of block numbers
    ("ddpm-pcam", {"epochs": 2, "steps": None}),  # the paper profile's budget kind
    ("ddpm-pcam", {"grad_clip": None}),
    ("iddpm", {"grad_clip": 0.5, "sample_steps": None}),
    ("progan", {"betas": [0, 0.9]}),  # integers in a list of numbers
    ("stain-jitter", {"image_size": None}),
])
def test_legitimate_overrides_still_work(generator: str, overrides: dict[str, Any]) -> None:
    gen = GENERATORS[generator].obj.from_profile("smoke", ["a", "b"], overrides)
    assert all(gen.config[k] == v for k, v in overrides.items())


def test_list_elements_are_checked() -> None:
    ddpm = GENERATORS["ddpm-pcam"].obj
    with pytest.raises(AugdiffError, match=r"--set widths=\['8', 16\]: expected a list of integers"):
        ddpm.check_overrides("smoke", {"widths": ["8", 16]})
    with pytest.raises(AugdiffError, match=r"--set attention=\[True\]: expected a string or null or a list of"):
        ddpm.check_overrides("smoke", {"attention": [True]})


def test_sampling_options_are_checked_too() -> None:
    """``augment --set sample_steps=…`` never reaches ``from_profile`` (it only takes fit options)."""
    add = GENERATORS["add"].obj
    with pytest.raises(AugdiffError, match=r"^--set sample_steps='abc': expected an integer"):
        add.check_overrides("smoke", {"sample_steps": "abc"})
    assert json.dumps(add.check_overrides("smoke", {"sample_steps": 10})) == '{"sample_steps": 10}'
