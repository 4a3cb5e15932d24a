"""The documentation site: it builds with --strict (no broken link or anchor), and its generated reference
pages cover every command and every rulebook model."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import click
import pytest

from crmgate.doors.cli import cli
from crmgate.doors.cli.docgen import cli_reference, main, rulebook_reference
from crmgate.rules.schema import Rulebook
from tests.docblocks import ROOT

HAVE_MKDOCS = all(importlib.util.find_spec(name) for name in ("mkdocs", "material"))


def _command_paths(cmd: click.Command, path: str) -> list[str]:
    paths = [path]
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            paths += _command_paths(sub, f"{path} {name}")
    return paths


def test_cli_reference_covers_every_command_and_option():
    """Every command of the click tree has a section with its usage, and every option of it is listed."""
    page = cli_reference()
    for path in _command_paths(cli, "crmgate"):
        assert f"\n## {path}\n" in page, path
        assert f"Usage: {path} " in page, path
    assert "| `--set FIELD=VALUE` |" in page and "| `--by TEXT` | The approver" in page


def test_rulebook_reference_covers_every_model_and_key():
    """Every model of the rulebook's JSON Schema has a section, and every key of it a row."""
    schema = Rulebook.model_json_schema()
    page = rulebook_reference()
    for name, model in [("Rulebook", schema), *schema["$defs"].items()]:
        section = page.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
        for key in model.get("properties", {}):
            assert f"| `{key}` |" in section, (name, key)
    assert "| `type` | one of `string`, `picklist`," in page
    assert "| `objects` | map of name to [ObjectSchema](#objectschema) | yes |" in page


def test_docgen_prints_a_page_or_a_usage_error(capsys):
    """`python -m crmgate.doors.cli.docgen` prints the page asked for, and exits 2 with a usage line otherwise."""
    assert main(["rulebook"]) == 0 and capsys.readouterr().out.startswith("# Rulebook reference")
    assert main(["nonsense"]) == 2 and "usage:" in capsys.readouterr().err


@pytest.mark.skipif(not HAVE_MKDOCS, reason="mkdocs and mkdocs-material are not installed: pip install -e '.[docs]'")
def test_site_builds_strict(tmp_path):
    """`mkdocs build --strict` passes (a broken link or anchor fails it), with the generated reference pages and
    the README's tour included in the home page."""
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)], cwd=ROOT,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cli_page = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "crmgate approvals approve" in cli_page
    assert "FieldSpec" in (site / "reference" / "rulebook" / "index.html").read_text(encoding="utf-8")
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "crmgate rollback --actor ai:lead-intake-1 --dry-run" in re.sub(r"<[^>]+>", "", home)
    assert (site / "openapi.json").exists() and not (site / "hooks").exists()
