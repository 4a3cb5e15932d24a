"""Layering: the rules package never imports connector or adapters."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

RULES = Path(__file__).resolve().parents[2] / "rules"


def test_no_forbidden_imports_in_source() -> None:
    """No module in rules/ has an import statement naming connector or adapters."""
    offenders = []
    for path in sorted(RULES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [(path.name, n) for n in names if n.split(".")[0] in {"connector", "adapters"}]
    assert len(list(RULES.glob("*.py"))) >= 9 and offenders == []


def test_importing_rules_loads_neither() -> None:
    """A fresh interpreter importing rules (and deciding) has no connector/adapters module loaded."""
    code = ("import sys, rules; from rules import decide, load_rulebook; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('connector', 'adapters')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=RULES.parent, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
