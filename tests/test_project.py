"""Project-wide properties: README examples run, imports flow one way, public API is complete."""
from __future__ import annotations

import re
from pathlib import Path

import crmgate

ROOT = Path(__file__).resolve().parent.parent


def test_readme_python_examples_run(tmp_path, monkeypatch):
    """Every ```python block in the README runs as written, in a fresh directory."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "the README has no Python example"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CRMGATE_TRAIL_KEY", raising=False)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})


def test_readme_quickstart_is_two_commands():
    """The quickstart is exactly two commands: install + demo, and the tests, as .ci/run runs them."""
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quickstart", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [line for line in quick.splitlines() if line.strip()]
    assert len(lines) == 2 and "crmgate demo" in lines[0] and "pytest" in lines[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert lines[0] in ci and lines[1] in ci


def test_crmgate_all_is_complete():
    """Every name in crmgate.__all__ exists, and every public class exported is listed."""
    for name in crmgate.__all__:
        assert hasattr(crmgate, name)
    public = {n for n in vars(crmgate) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(crmgate.__all__)
