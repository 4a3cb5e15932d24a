"""A project made by ``crmgate init`` (the example rulebook's default matching rules), driven through the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmgate.doors.cli import cli


@pytest.fixture
def project(tmp_path: Path) -> Path:
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    return tmp_path / "p"


@pytest.fixture
def run(project: Path, monkeypatch):
    monkeypatch.delenv("CRMGATE_TRAIL_KEY", raising=False)

    def invoke(*args: str, input: str | None = None, ok: bool = True):
        result = CliRunner().invoke(cli, ["--config", str(project / "crmgate.yaml"), *args], input=input)
        if ok:
            assert result.exit_code == 0, (result.output, result.stderr)
        return result
    return invoke


def lines(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def propose(run, *proposals: dict) -> list[dict]:
    return lines(run("propose", "-", input="\n".join(json.dumps(p) for p in proposals), ok=False))


def intake(obj: str, **fields) -> dict:
    return {"object": obj, "op": "create", "actor": "ai:intake-1", "fields": fields}
