"""MkDocs hook: adds the two generated reference pages (CLI, rulebook) to the site on every build.

They come from the code (the click command tree, the rulebook's pydantic models), so they never drift;
``python -m crmgate.doors.cli.docgen cli|rulebook`` prints the same text.
"""
from __future__ import annotations

from typing import Any

from mkdocs.structure.files import File, Files

from crmgate.doors.cli.docgen import cli_reference, rulebook_reference


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, "reference/cli.md", content=cli_reference()))
    files.append(File.generated(config, "reference/rulebook.md", content=rulebook_reference()))
    return files
