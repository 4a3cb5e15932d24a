"""Project-wide properties: README examples run, imports flow one way, public API is complete."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import connector

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


def test_imports_flow_one_way():
    """Neither rules/ nor adapters/ imports connector; rules/ does not import adapters/."""
    forbidden = {"rules": ("connector", "adapters"), "adapters": ("connector", "rules")}
    for pkg, bad in forbidden.items():
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    assert name.split(".")[0] not in bad, f"{path} imports {name}"


def test_connector_all_is_complete():
    """Every name in connector.__all__ exists, and every public class exported is listed."""
    for name in connector.__all__:
        assert hasattr(connector, name)
    public = {n for n in vars(connector) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(connector.__all__)


def test_every_package_and_template_ships():
    """A wheel (not only the editable install the tests run from) contains every package folder and
    the templates `crmgate init` reads."""
    import tomllib

    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(conf["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for top in ("connector", "adapters", "rules")
             for p in (ROOT / top).rglob("__init__.py")}
    assert found == declared
    patterns = conf["package-data"]["connector"]
    templates = {p.name for p in (ROOT / "connector" / "templates").iterdir()}
    assert templates and all(any(Path("templates", t).match(pat) for pat in patterns) for t in templates)
