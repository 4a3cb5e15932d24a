"""Project-wide properties: documented examples run as written, the README stays short, public API is complete."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import crmgate
from tests.docblocks import ROOT, fenced_blocks, pages

BIN = Path(sys.executable).parent  # the venv's bin: crmgate, python


def test_python_examples_in_the_docs_run(tmp_path, monkeypatch):
    """Every ```python block of the README and the documentation site runs as written, each page in a fresh
    directory (its blocks in order, sharing it)."""
    monkeypatch.delenv("CRMGATE_TRAIL_KEY", raising=False)
    ran = []
    for page in pages():
        blocks = fenced_blocks(page, "python")
        if not blocks:
            continue
        workdir = tmp_path / page.stem
        workdir.mkdir()
        monkeypatch.chdir(workdir)
        for block in blocks:
            exec(compile(block, str(page.relative_to(ROOT)), "exec"), {"__name__": "docs"})
        ran.append(page.name)
    assert {"concepts.md", "approvals.md"} <= set(ran), ran


def test_readme_quickstart_is_two_commands():
    """The quickstart is exactly two commands: install + demo, and the tests, as .ci/run runs them; the site's
    home page shows the same two."""
    [quick] = fenced_blocks("README.md", "sh", "Quickstart")
    lines = [line for line in quick.splitlines() if line.strip()]
    assert len(lines) == 2 and "crmgate demo" in lines[0] and "pytest" in lines[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert lines[0] in ci and lines[1] in ci
    assert fenced_blocks("docs/index.md", "sh", "Quickstart") == [quick]


def test_readme_tour_runs_as_written(tmp_path):
    """The README's five-minute tour, run by bash in a fresh directory whose .venv is this venv, does what its
    comments say: applied, rejected and queued; approved; the agent's value rolled back, the person's kept;
    the trail and its export verify."""
    [tour] = fenced_blocks("README.md", "sh", "Five-minute tour")
    assert tour.startswith(". .venv/bin/activate")
    if (BIN / "activate").exists():
        (tmp_path / ".venv").symlink_to(BIN.parent)
    else:  # not running from a venv: put the interpreter's bin on PATH instead
        tour = tour.replace(". .venv/bin/activate", ":", 1)
    env = {k: v for k, v in os.environ.items() if k not in ("CRMGATE_TRAIL_KEY", "CRMGATE_CONFIG")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", tour], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    statuses = re.findall(r'^"status": "(\w+)"$', out, re.M)
    assert statuses == ["applied", "rejected", "queued"]
    assert '"status": "applied", "object": "Opportunity"' in out  # the approval wrote the deal
    lead_reads = [line for line in out.splitlines() if line.startswith('{"object": "Lead", "id": "00Q000000000001EAA"')]
    assert len(lead_reads) == 3  # before, after the person's edit, after the rollback
    before, edited, after = lead_reads
    assert '"NumberOfEmployees": 75' in before and '"Rating": "Warm"' in before
    assert '"NumberOfEmployees": 80' in edited and '"Rating": "Cold"' in edited
    assert '"NumberOfEmployees": 75' in after and '"Rating": "Cold"' in after
    assert out.count('"ok": true') == 2  # trail verify, and the export's offline verify


def test_readme_is_at_most_250_lines():
    """The README is what a newcomer reads first; everything else lives in the documentation site."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, len(lines)


def test_readme_links_point_to_files_that_exist():
    """Every relative link in the README resolves (mkdocs --strict checks the site's own links, not these)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = [t.split("#", 1)[0] for t in re.findall(r"\]\(([^)]+)\)", text) if "://" not in t]
    assert targets
    assert [t for t in targets if t and not (ROOT / t).exists()] == []


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_do_not_speak_of_an_issue(page):
    """The README and the docs describe the product, not the tickets it was built from."""
    assert re.search(r"\bthe issue\b|\bissue #?\d", page.read_text(encoding="utf-8"), re.I) is None


def test_crmgate_all_is_complete():
    """Every name in crmgate.__all__ exists, and every public class exported is listed."""
    for name in crmgate.__all__:
        assert hasattr(crmgate, name)
    public = {n for n in vars(crmgate) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(crmgate.__all__)
