"""The baseline for speed figures: the code as it was before the scale work, run in the same session.

A figure only means something beside its baseline measured on the same machine in the same run
(the machine is shared, its load moves). :func:`baseline_tree` lays out an older commit as an
importable ``crmgate`` package in a scratch folder, so a benchmark can run the same workload
against it in a subprocess with ``PYTHONPATH`` pointing there (the old tree imports only
``crmgate.*`` and the same third-party libraries).

    with baseline_tree() as old:                     # default ref: BASELINE_REF
        run_subprocess(..., env=baseline_env(old))

:func:`row` prints one line of the targets table in a fixed shape, so ``benchmarks/scale.py``
can gather them: ``ROW|figure|value|baseline|ratio|target|met``.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: main before the scale work (the end of the third session)
BASELINE_REF = "15d1d61"
ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def baseline_tree(ref: str = BASELINE_REF, root: Path = ROOT) -> Iterator[Path]:
    """Yield a folder holding ``crmgate`` as it was at ``ref`` (connector, adapters, rules)."""
    blob = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", ref,
                           "connector", "adapters", "rules"], check=True, capture_output=True).stdout
    with tempfile.TemporaryDirectory(prefix="crmgate-baseline-") as tmp:
        raw = Path(tmp) / "raw"
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            tar.extractall(raw, filter="data")
        pkg = Path(tmp) / "tree" / "crmgate"
        shutil.copytree(raw / "connector", pkg)
        shutil.copytree(raw / "adapters", pkg / "adapters")
        shutil.copytree(raw / "rules", pkg / "rules")
        yield pkg.parent


def baseline_env(tree: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a subprocess that must import the baseline ``crmgate`` from ``tree``."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = str(tree)
    env["CRMGATE_BASELINE"] = "1"
    return env


def current_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a subprocess that must import the installed (current) ``crmgate``."""
    env = dict(os.environ if base is None else base)
    env.pop("PYTHONPATH", None)
    env.pop("CRMGATE_BASELINE", None)
    return env


def row(figure: str, value: float, baseline: float, *, unit: str, target: str, met: bool,
        higher_is_better: bool = True) -> None:
    """Print one targets-table row; ``ratio`` is value/baseline (or baseline/value for costs)."""
    ratio = value / baseline if higher_is_better else baseline / value
    print(f"ROW|{figure}|{value:,.4g} {unit}|{baseline:,.4g} {unit}|{ratio:.2f}x|{target}|"
          f"{'met' if met else 'MISSED'}", flush=True)
