"""Relative links in README.md and docs/ resolve: the file exists, and a ``#fragment`` names one of its headings.

Pages move (user material stays in docs/, builder material in docs/dev/); this catches a link left pointing at the
old place. Web links are not fetched; links inside code blocks and inline code are not links.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[1]
FENCED = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
EXTERNAL = ("http://", "https://", "mailto:", "ftp://")


def _pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _prose(text: str) -> str:
    """The text without fenced blocks and inline code, where brackets and `#` are not Markdown."""
    return INLINE_CODE.sub("", FENCED.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: formatting dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors on its text
    text = text.replace("`", "").replace("*", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor; repeated headings get -1, -2, … as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCED.sub("", page.read_text(encoding="utf-8"))):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def broken_links(page: Path) -> list[str]:
    """``target (why)`` for each relative link of ``page`` that does not resolve."""
    bad = []
    for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
        if target.startswith(EXTERNAL):
            continue
        path_part, _, fragment = target.partition("#")
        dest = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not dest.exists():
            bad.append(f"{target} (no such file)")
        elif fragment and dest.suffix == ".md" and unquote(fragment).lower() not in anchors(dest):
            bad.append(f"{target} (no heading #{fragment} in {dest.name})")
    return bad


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_resolve(page: Path) -> None:
    assert not broken_links(page), f"{page.relative_to(REPO)}: {broken_links(page)}"


def test_the_checker_finds_missing_files_and_headings(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Title\n\n## Options and `--flags`: what they do\n\n## Notes\n## Notes\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md) [ok](other.md#options-and---flags-what-they-do) [ok](other.md#notes-1) [ok](#here)\n"
        "[web](https://example.org/x.md) `[code](missing.md)`\n\n```\n[block](missing.md)\n```\n\n# Here\n"
        "[gone](missing.md) [wrong](other.md#nowhere) ![img](img/none.png)\n"
    )
    assert broken_links(page) == ["missing.md (no such file)", "other.md#nowhere (no heading #nowhere in other.md)",
                                  "img/none.png (no such file)"]
