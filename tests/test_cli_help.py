"""``--help`` shows every help string whole (Rich markup must not eat "[default: …]"), and no ignored options."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer

from augdiff.cli import create_app

# Wide enough that Rich does not wrap a help string across lines.
WIDE = {"COLUMNS": "400", "TERMINAL_WIDTH": "400"}


def _commands() -> list[list[str]]:
    """Every command path of the CLI (plugins' commands included), e.g. ["data", "info"]."""
    root = typer.main.get_command(create_app())
    found = []

    def walk(cmd: Any, path: list[str]) -> None:
        if hasattr(cmd, "commands"):  # a group (typer vendors its own click: no isinstance with click's)
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
        else:
            found.append(path)

    walk(root, [])
    return found


def _help(runner, *path: str) -> str:  # type: ignore[no-untyped-def]
    result = runner.invoke(create_app(), [*path, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    return result.output


def test_fit_help_shows_the_runs_default(runner) -> None:  # type: ignore[no-untyped-def]
    text = _help(runner, "fit")
    assert "Where runs are stored [default: ./runs]." in text
    assert "[default: $AUGDIFF_DATA_ROOT/<name>]" in text


@pytest.mark.parametrize("path", _commands(), ids=" ".join)
def test_no_help_text_loses_a_bracketed_part(path: list[str], runner) -> None:  # type: ignore[no-untyped-def]
    text = _help(runner, *path)
    eaten = re.search(r"\S \.(\s|$)", re.sub(r"[\s│]+", " ", text))  # "stored [default: ./runs]." → "stored ."
    assert eaten is None, f"text eaten by markup in {path}: …{eaten.group(0)}…\n{text}"
    assert "[default:" in text or "--help" in text


@pytest.mark.parametrize(("args", "option"), [
    (["data", "info", "--profile", "smoke"], "--profile"),
    (["data", "preview", "--out", "x.png", "--profile", "smoke"], "--profile"),
    (["list", "--seed", "1"], "--seed"),
])
def test_options_that_did_nothing_are_gone(args: list[str], option: str, runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(create_app(), args)
    assert result.exit_code == 2 and "No such option" in result.output and option in result.output


def test_list_rejects_an_unknown_profile(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(create_app(), ["list", "--profile", "nope"])
    assert result.exit_code == 2
    assert "--profile nope: no installed generator has this profile; choose one of cpu, paper, smoke" in result.output
