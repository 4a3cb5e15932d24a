"""The shell examples of docs/operations-logging.md and docs/rulebook-schema.md run as written."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = str(Path(sys.executable).parent)


def sh_blocks(page: str) -> list[str]:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    return [block.split("\n```", 1)[0] for block in text.split("```sh\n")[1:]]


def run(script: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMGATE_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], check=False, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_logging_example_logs_json_to_stderr_only(tmp_path: Path) -> None:
    """The page's first example: the outcome on stdout, and the log file holds JSON lines only."""
    done = run(sh_blocks("operations-logging.md")[0], tmp_path)
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "logdemo" / "crmgate.log").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in log]
    assert any(e["event"] == "trail.appended" for e in events)
    outcomes = [json.loads(line) for line in done.stdout.splitlines() if '"status"' in line]
    assert [o["status"] for o in outcomes] == ["applied"]
    assert done.stderr == ""  # the logs went to the file, nowhere else


@pytest.mark.parametrize("page", ["rulebook-schema.md"])
def test_the_schema_examples_run(tmp_path: Path, page: str) -> None:
    """init writes the modeline; `rules schema` refreshes the copy; `rules check` accepts the rulebook."""
    blocks = sh_blocks(page)
    script = "\n".join([blocks[0], blocks[1], blocks[3]])  # the third block runs inside an existing project
    done = run(script, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "# yaml-language-server: $schema=rules.schema.json" in done.stdout
    assert json.loads(done.stdout.splitlines()[-1])["ok"] is True
    run(blocks[2], tmp_path)
    assert json.loads((tmp_path / "rules.schema.json").read_text())["title"] == "crmgate rulebook"
