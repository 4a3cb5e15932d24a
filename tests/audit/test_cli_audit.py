"""The auditor and governance commands through the CLI, on a project made by `crmgate init`."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmgate.doors.cli import cli


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.delenv("CRMGATE_TRAIL_KEY", raising=False)
    monkeypatch.delenv("CRMGATE_CONFIG", raising=False)
    assert CliRunner().invoke(cli, ["init", str(tmp_path / "p")]).exit_code == 0
    return tmp_path / "p"


@pytest.fixture
def run(project: Path):
    def invoke(*args: str, input: str | None = None, code: int = 0):
        result = CliRunner().invoke(cli, ["--config", str(project / "crmgate.yaml"), *args], input=input)
        assert result.exit_code == code, (result.output, result.stderr)
        return result
    return invoke


@pytest.fixture
def changes(run) -> list[dict]:
    proposals = [{"object": "Lead", "op": "create", "actor": f"ai:lead-intake-{i % 2}",
                  "fields": {"LastName": f"=cmd|{i}", "Company": "Initech", "Country": "US"}} for i in range(4)]
    out = run("propose", "-", input="\n".join(json.dumps(p) for p in proposals)).stdout
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_filtered_export_verifies_offline_with_the_public_key_alone(run, project, changes, tmp_path,
                                                                    monkeypatch, fmt):
    """A filtered export verifies from another directory with only the export and the public key;
    an edited export fails with exit 1 and a JSON report naming the problem."""
    out = tmp_path / f"audit.{fmt}"
    manifest = json.loads(run("trail", "export", "--format", fmt, "--out", str(out), "--actor", "ai:lead-intake-1",
                              "--since", "2000-01-01").stdout)
    assert manifest["entries"] == 6 and manifest["filters"]["actor"] == "ai:lead-intake-1"
    away = tmp_path / "auditor"
    away.mkdir()
    bundle = [out, out.with_name(out.name + ".manifest.json"), out.with_name(out.name + ".chain"),
              *([out.with_name(out.name + ".entries.jsonl")] if fmt == "csv" else [])]
    for f in (*bundle, project / "trail.pub"):
        (away / f.name).write_bytes(f.read_bytes())
    monkeypatch.chdir(away)  # no crmgate.yaml, no database here
    ok = CliRunner().invoke(cli, ["trail", "verify", "--export", out.name, "--public-key", "trail.pub"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"] is True
    (away / out.name).write_bytes((away / out.name).read_bytes().replace(b"Initech", b"Initrek", 1))
    bad = CliRunner().invoke(cli, ["trail", "verify", "--export", out.name, "--public-key", "trail.pub"])
    report = json.loads(bad.stdout)
    assert bad.exit_code == 1 and report["ok"] is False and report["first_bad_seq"] is not None
    assert {"export_sha256", "entry_edited"} <= {p["code"] for p in report["problems"]}


def test_since_manifest_catches_a_cut_tail(run, project, changes, tmp_path):
    """`trail verify --since-manifest` passes while the trail extends the exported head and fails
    once entries and their checkpoints are cut off the end."""
    out = tmp_path / "all.jsonl"
    run("trail", "export", "--out", str(out))
    old = str(out.with_name(out.name + ".manifest.json"))
    assert json.loads(run("trail", "verify", "--since-manifest", old).stdout)["ok"]
    with sqlite3.connect(project / "trail.db") as conn:
        conn.execute("DELETE FROM trail_entries WHERE seq > 8")
        conn.execute("DELETE FROM trail_checkpoints WHERE seq > 8")
        conn.execute("UPDATE trail_head SET seq = 8, hash = (SELECT hash FROM trail_entries WHERE seq = 8)")
    assert json.loads(run("trail", "verify").stdout)["ok"]  # the store alone cannot see this cut
    result = json.loads(run("trail", "verify", "--since-manifest", old, code=1).stdout)
    assert result["first_bad_seq"] == 9 and result["problems"][0]["code"] == "tail_cut"


def test_export_of_a_tampered_store_is_refused(run, project, changes, tmp_path):
    """A store edited in the database is not exported: exit 1 with the verifier's report."""
    with sqlite3.connect(project / "trail.db") as conn:
        conn.execute("UPDATE trail_entries SET body = replace(body, 'Initech', 'Initrek') WHERE seq = 1")
    r = run("trail", "export", "--out", str(tmp_path / "x.jsonl"), code=1)
    err = json.loads(r.stderr)["error"]
    assert err["code"] == "trail_invalid" and err["details"]["first_bad_seq"] == 1
    assert not (tmp_path / "x.jsonl").exists()


def test_feedback_and_report(run, changes):
    """Feedback is recorded through the CLI and shows in the report's table and JSON."""
    fb = json.loads(run("feedback", changes[0]["change_id"], "--incorrect", "--by", "ana", "--note", "dup").stdout)
    assert fb["correct"] is False and fb["by"] == "ana"
    data = json.loads(run("report", "--json").stdout)
    assert data["totals"]["proposals"] == 4 and data["totals"]["applied"] == 4
    assert data["totals"]["feedback_incorrect"] == 1 and data["totals"]["rates"]["acceptance"] == 1.0
    assert "lead_intake" in run("report").stdout
    assert json.loads(run("report", "--json", "--since", "2999-01-01").stdout)["totals"]["proposals"] == 0


@pytest.mark.parametrize("args,code", [
    (["feedback", "chg_nope", "--correct"], "unknown_change"),
    (["report", "--since", "yesterday"], "invalid_time"),
    (["trail", "export", "--out", "x.jsonl", "--until", "soon"], "invalid_time"),
])
def test_bad_input_is_a_structured_error(run, args, code):
    """Unknown changes and bad times exit 2 with a JSON error, no traceback."""
    r = run(*args, code=2)
    assert json.loads(r.stderr)["error"]["code"] == code


def test_feedback_needs_a_verdict(run, changes):
    """`feedback` without --correct/--incorrect is a usage error."""
    assert run("feedback", changes[0]["change_id"], code=2).exit_code == 2


@pytest.mark.parametrize("path", [["trail", "export"], ["feedback"], ["report"]])
def test_new_commands_have_help(path):
    """The new commands answer --help."""
    r = CliRunner().invoke(cli, [*path, "--help"])
    assert r.exit_code == 0 and "Usage:" in r.output
