"""docs/admin-cli.md's walkthrough runs as written (bash, with crmgate on PATH)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "admin-cli.md"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_walkthrough_runs_as_written(tmp_path, monkeypatch):
    """Every command of the walkthrough exits 0 and the marked results come out as the comments say."""
    script = re.search(r"<!-- walkthrough -->\n```bash\n(.*?)```", DOC.read_text(), re.DOTALL).group(1)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("CRMGATE_TRAIL_KEY", None)
    env.pop("CRMGATE_CONFIG", None)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    lines = done.stdout.splitlines()
    assert lines.count("applied") == 2 and "True" in lines
    assert "stale" in done.stdout and "Pipeline" in done.stdout  # the stale table's three values
    assert (tmp_path / "admin-demo" / "report.csv").read_text().startswith("group,name,")
