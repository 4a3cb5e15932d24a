"""The fenced code blocks of the project's Markdown pages, so tests run every documented example as written."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_HEADING = re.compile(r"(#{1,6})\s+(.*?)\s*#*\s*$")


def pages() -> list[Path]:
    """README.md and every page of the documentation site."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def fenced_blocks(page: str | Path, language: str, section: str | None = None) -> list[str]:
    """The ```language blocks of ``page`` (a path, or relative to the repository), in order.

    With ``section``, only the blocks under the heading with exactly that text, up to the next
    heading of the same or a higher level. A missing section raises, so a renamed heading fails
    the test that relies on it instead of silently running nothing.
    """
    path = page if isinstance(page, Path) else ROOT / page
    blocks: list[str] = []
    fence: str | None = None  # the language of the open fence, "" for an unlabelled one
    inside = section is None
    level = 0
    found = section is None
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith("```") and stripped.strip("`") == "":
                fence = None
            elif inside and fence == language:
                blocks[-1] += line
            continue
        if stripped.startswith("```"):
            fence = stripped.strip("`").strip().split(" ", 1)[0]
            if inside and fence == language:
                blocks.append("")
            continue
        heading = _HEADING.match(line)
        if heading and section is not None:
            depth = len(heading.group(1))
            if heading.group(2) == section:
                inside, level, found = True, depth, True
            elif inside and depth <= level:
                inside = False
    if not found:
        raise LookupError(f"{path.name} has no section headed {section!r}")
    return blocks
