"""The package's shape: one import package named crmgate, one-way imports, no circles, small modules."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: source folder -> the import package it installs as (pyproject's package-dir)
SOURCES = {"connector": "crmgate", "adapters": "crmgate.adapters", "rules": "crmgate.rules"}
KERNEL = {"crmgate.clock", "crmgate.errors", "crmgate.config", "crmgate.actors", "crmgate.tables"}
#: each area of crmgate, and the areas it may import besides itself (ARCHITECTURE.md draws this)
ALLOWED: dict[str, set[str]] = {
    "crmgate.rules": set(),
    "crmgate.adapters": set(),
    "crmgate.trail": set(),
    "crmgate.errors": set(),
    "crmgate.actors": set(),
    "crmgate.clock": {"crmgate.errors"},
    "crmgate.config": {"crmgate.errors"},
    "crmgate.tables": {"crmgate.trail"},
    "crmgate.budget": KERNEL | {"crmgate.trail", "crmgate.adapters"},
    "crmgate.project": KERNEL | {"crmgate.trail", "crmgate.adapters"},
    "crmgate.decide": KERNEL | {"crmgate.trail", "crmgate.rules"},
    "crmgate.audit": KERNEL | {"crmgate.trail"},
    "crmgate.writes": KERNEL | {"crmgate.trail", "crmgate.rules", "crmgate.adapters", "crmgate.decide"},
    "crmgate.approvals": KERNEL | {"crmgate.trail", "crmgate.rules", "crmgate.adapters", "crmgate.writes"},
    "crmgate.rollback": KERNEL | {"crmgate.trail", "crmgate.rules", "crmgate.adapters", "crmgate.approvals"},
    "crmgate.gate": KERNEL | {"crmgate.trail", "crmgate.rules", "crmgate.adapters", "crmgate.decide", "crmgate.budget",
                              "crmgate.writes", "crmgate.approvals", "crmgate.rollback"},
}


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for folder, package in SOURCES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            mods[".".join((package, *parts))] = path
    return mods


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Every crmgate module a file names in an import: top level, inside functions, or TYPE_CHECKING."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES}
    return found


def _area(module: str) -> str:
    parts = module.split(".")
    if parts[:2] in (["crmgate", "adapters"], ["crmgate", "rules"]):
        return "crmgate." + parts[1]
    return ".".join(parts[:2])


def test_no_top_level_connector_adapters_or_rules_imports() -> None:
    """No file (code, tests, benchmarks) imports the old top-level names connector, adapters or rules."""
    offenders = []
    for path in [*ROOT.glob("connector/**/*.py"), *ROOT.glob("adapters/**/*.py"), *ROOT.glob("rules/**/*.py"),
                 *ROOT.glob("tests/**/*.py"), *ROOT.glob("benchmarks/**/*.py")]:
        offenders += [(str(path.relative_to(ROOT)), name) for name in _imports(path)
                      if name.split(".")[0] in SOURCES]
    assert offenders == []


def test_imports_flow_one_way() -> None:
    """rules and adapters import nothing else of crmgate; each stage imports only the areas below it;
    only the doors (and the package's own __init__) may import everything."""
    offenders = []
    for module, path in MODULES.items():
        area = _area(module)
        if area in ("crmgate", "crmgate.doors"):
            continue
        allowed = ALLOWED[area] | {area}
        offenders += [(module, name) for name in _imports(path)
                      if name in MODULES and name != "crmgate" and _area(name) not in allowed]
    assert offenders == []


def test_every_area_is_listed() -> None:
    """A new subpackage must be placed in the layering above, not slip past it."""
    areas = {_area(m) for m in MODULES} - {"crmgate", "crmgate.doors"}
    assert areas == set(ALLOWED)


def test_no_import_circles() -> None:
    """The module import graph (lazy and TYPE_CHECKING imports included) has no cycle. A package's
    __init__ re-exporting its own modules is not a cycle."""
    def related(a: str, b: str) -> bool:
        return a.startswith(b + ".") or b.startswith(a + ".")

    graph = {m: {n for n in _imports(p) if n in MODULES and n != m and not related(m, n)}
             for m, p in MODULES.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_no_module_over_400_lines() -> None:
    """Small modules: none outside tests/ is over 400 lines."""
    big = {str(p.relative_to(ROOT)): n for p in MODULES.values()
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert big == {}


def test_every_package_says_what_it_holds_and_may_import() -> None:
    """Each package's __init__ docstring says what it holds and what it may import, in a few lines."""
    missing = []
    for module, path in MODULES.items():
        if path.name != "__init__.py":
            continue
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        lines = [line for line in doc.splitlines() if line.strip()]
        if not (2 <= len(lines) <= 4 and "import" in doc.lower()):
            missing.append(module)
    assert missing == []


def test_pyproject_declares_every_package_and_template() -> None:
    """The package list in pyproject is exactly the folders with an __init__, and the templates ship."""
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert conf["package-dir"] == {"crmgate": "connector", "crmgate.adapters": "adapters",
                                   "crmgate.rules": "rules"}
    assert set(conf["packages"]) == {m for m, p in MODULES.items() if p.name == "__init__.py"}
    patterns = conf["package-data"]["crmgate.project"]
    templates = {p.name for p in (ROOT / "connector" / "project" / "templates").iterdir()}
    assert templates and all(any(Path("templates", t).match(pat) for pat in patterns) for t in templates)


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only crmgate's wheel installed; dependencies come from the test venv's
    site-packages through a plain path entry (no .pth processing, so no editable finder)."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp / "dist"), str(ROOT)], check=True, capture_output=True)
    wheel = next((tmp / "dist").glob("crmgate-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q",
                    str(wheel)], check=True, capture_output=True)
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_wheel_installs_one_package_named_crmgate(wheel_venv: Path) -> None:
    """After installing the wheel, site-packages holds crmgate and no connector, adapters or rules;
    `from crmgate import Gate` works from anywhere, and the console script runs."""
    py = wheel_venv / "bin" / "python"
    code = ("import sys, sysconfig, pathlib, crmgate; from crmgate import Gate, load_config; "
            "site = pathlib.Path(sysconfig.get_paths()['purelib']); "
            "print(sorted(p.name for p in site.iterdir() if p.is_dir() and not p.name.endswith('-info')"
            " and not p.name.startswith('_'))); print(crmgate.__file__)")
    out = subprocess.run([str(py), "-c", code], check=True, capture_output=True, text=True, cwd=wheel_venv,
                         env={**os.environ, "PYTHONPATH": ""}).stdout.splitlines()
    assert out[0] == "['crmgate']"
    assert out[1].startswith(str(wheel_venv))
    help_text = subprocess.run([str(wheel_venv / "bin" / "crmgate"), "--help"], check=True, capture_output=True,
                               text=True, cwd=wheel_venv).stdout
    assert "Usage: crmgate" in help_text
