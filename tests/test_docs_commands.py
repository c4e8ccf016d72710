"""The documented commands still run: every ```bash block in README.md and docs/ marked ``<!-- runnable -->``.

Each ``augdiff …`` line of such a block runs in order (a block is one session: ``fit`` then ``augment`` reuses the
fit) in a fresh working folder, with runs under ``$AUGDIFF_RUNS_DIR`` (set per test by conftest). Lines at the
``cpu`` or ``paper`` profile are skipped: they take minutes to hours. Mark only smoke-size commands runnable.
docs/settings.md must also list every option of every command.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest

from augdiff.cli import app

REPO = Path(__file__).resolve().parents[1]
MARKER = "<!-- runnable -->"
FENCE = re.compile(r"^```bash\s*$")
SLOW_PROFILES = {"cpu", "paper"}


@dataclass(frozen=True)
class Block:
    where: str  # "docs/index.md:17": file and line of the opening fence
    commands: tuple[tuple[str, ...], ...]  # augdiff's arguments, one tuple per runnable command line


def _doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _logical_lines(body: list[str]) -> list[str]:
    """Shell lines with ``\\`` continuations joined."""
    out, pending = [], ""
    for line in body:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    return out + ([pending] if pending else [])


def _augdiff_args(line: str) -> tuple[str, ...] | None:
    """The arguments of an ``augdiff`` command line (comments dropped), or None for anything else."""
    words = shlex.split(line, comments=True)
    if not words or words[0] != "augdiff":
        return None
    return tuple(words[1:])


def _profile(args: tuple[str, ...]) -> str | None:
    for i, word in enumerate(args):
        if word == "--profile" and i + 1 < len(args):
            return args[i + 1]
        if word.startswith("--profile="):
            return word.split("=", 1)[1]
    return None


def runnable_blocks(files: list[Path] | None = None) -> list[Block]:
    blocks = []
    for path in files or _doc_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if not FENCE.match(line):
                continue
            before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            if before != MARKER:
                continue
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("```"))
            commands = tuple(
                args
                for logical in _logical_lines(lines[i + 1 : end])
                if (args := _augdiff_args(logical)) is not None and _profile(args) not in SLOW_PROFILES
            )
            name = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else path.name
            blocks.append(Block(f"{name}:{i + 1}", commands))
    return blocks


BLOCKS = runnable_blocks()


def test_the_newcomer_commands_are_marked_runnable() -> None:
    # The docs promise these work as shown; if a block loses its marker this test says so.
    run = {" ".join(args) for block in BLOCKS for args in block.commands}
    for expected in ("--version", "list", "data info --data synth-histo"):
        assert expected in run, (expected, sorted(run))
    assert any(c.startswith("fit stain-jitter --data synth-histo --profile smoke") for c in run)
    assert any(c.startswith("augment --generator stain-jitter") and "--out" in c for c in run)


def test_collection_reads_markers_continuations_and_profiles(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\naugdiff list\n```\n\n"  # not marked
        f"{MARKER}\n\n```bash\n"
        "augdiff data info \\\n    --data synth-histo   # counts\n"
        "echo not augdiff\n"
        "augdiff fit add --profile cpu\n"
        "augdiff fit add --profile=paper\n"
        "```\n",
        encoding="utf-8",
    )
    (block,) = runnable_blocks([page])
    assert block.commands == (("data", "info", "--data", "synth-histo"),)


# About 3 s for docs/index.md's block (smoke profile, synth-histo rendered once per session): not marked slow.
@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_documented_block_runs(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner, one_thread: None  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.chdir(tmp_path)  # relative --out folders land in this test's folder
    for args in block.commands:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, f"{block.where}: augdiff {shlex.join(args)}\n{result.output}"


def test_version_prints_the_installed_version(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"augdiff {version('augdiff')}\n"


def _options_by_command() -> dict[str, list[str]]:
    """``{"augdiff data info": ["--data", ...]}`` for every command of the CLI, plugins' included."""
    import typer

    found: dict[str, list[str]] = {}

    def walk(cmd, path: list[str]) -> None:  # type: ignore[no-untyped-def]
        if hasattr(cmd, "commands"):  # a group
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
        found[" ".join(path)] = [o for p in cmd.params for o in p.opts if o.startswith("--") and o != "--help"]

    walk(typer.main.get_command(app), ["augdiff"])
    return {k: v for k, v in found.items() if v}


def test_settings_page_lists_every_option_of_every_command() -> None:
    # docs/settings.md has one "### `augdiff CMD`" section per command; a new option must be added there.
    text = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^### `(augdiff[^`]*)`\n(.*?)(?=^#{2,3} |\Z)", text, flags=re.M | re.S))
    for command, options in _options_by_command().items():
        assert command in sections, f"docs/settings.md has no section for `{command}`"
        missing = [o for o in options if f"`{o}`" not in sections[command]]
        assert not missing, f"docs/settings.md, `{command}`: options {missing} are not listed"
