"""docs/duplicates.md's "Try it" block runs as written and does what the page says."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "duplicates.md"


def test_the_try_it_block_runs_as_written(tmp_path):
    block = re.search(r"## Try it.*?```sh\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("CRMGATE_TRAIL_KEY", None)
    run = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    outs = [o for o in (json.loads(line) for line in run.stdout.splitlines() if line.startswith('{"')) if "status" in o]
    statuses = [(o["status"], o.get("dry_run", False)) for o in outs]
    assert statuses[:5] == [("applied", False), ("rejected", False), ("applied", False), ("queued", True),
                            ("queued", False)]
    assert outs[1]["violations"][0]["code"] == "duplicate"
    assert outs[3]["duplicates"]["candidates"][0]["id"] == outs[2]["record_id"]
    assert '"duplicates": {' in run.stdout  # approvals list shows the candidate
    assert "duplicates by use case" in run.stdout
