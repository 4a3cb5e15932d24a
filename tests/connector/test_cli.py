"""The ``crmgate`` command line, including the issue's acceptance scenario end to end."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from crmgate.doors.cli import cli
from crmgate.trail.canonical import entry_hash


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


def propose(run, *proposals) -> list[dict]:
    out = run("propose", "-", input="\n".join(json.dumps(p) for p in proposals))
    return [json.loads(line) for line in out.stdout.splitlines()]


def get(run, obj, rid) -> dict:
    return json.loads(run("records", "get", obj, rid).stdout)["fields"]


def recompute_chain(db: Path) -> None:
    """What an attacker without the private key can do: re-hash every row after an edit."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT seq, body FROM trail_entries ORDER BY seq").fetchall()
        prev = "0" * 64
        for seq, body in rows:
            h = entry_hash(prev, body)
            conn.execute("UPDATE trail_entries SET prev_hash=?, hash=? WHERE seq=?", (prev, h, seq))
            prev = h
        conn.execute("UPDATE trail_head SET hash=?", (prev,))


def test_acceptance_scenario_through_the_cli(run, project):
    """The issue's 'done when' scenario, command by command."""
    lead = {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
            "fields": {"LastName": "Okafor", "Company": "Nordwind GmbH"}}
    [created] = propose(run, lead)
    assert created["status"] == "applied" and created["change_id"]
    rid = created["record_id"]
    [blank] = propose(run, {**lead, "op": "update", "record_id": rid, "fields": {"Company": ""}})
    assert blank["status"] == "rejected"
    assert blank["violations"][0]["code"] == "required_field_missing"
    assert get(run, "Lead", rid)["Company"] == "Nordwind GmbH"

    [o] = propose(run, {"object": "Opportunity", "op": "create", "actor": "ai:deal-intake",
                        "fields": {"Name": "Deal", "StageName": "Proposal", "CloseDate": "2027-01-29"}})
    hyg = {"object": "Opportunity", "op": "update", "record_id": o["record_id"], "actor": "ai:deal-hygiene"}
    nego, fc, low, shadow, dele = propose(
        run,
        {**hyg, "confidence": 0.9, "fields": {"StageName": "Negotiation"}},
        {**hyg, "confidence": 0.9, "fields": {"ForecastCategoryName": "Commit"}},
        {**hyg, "confidence": 0.5, "fields": {"NextStep": "Call"}},
        {"object": "Lead", "op": "update", "record_id": rid, "actor": "ai:lead-scorer-2",
         "fields": {"Rating": "Hot"}},
        {"object": "Opportunity", "op": "delete", "record_id": o["record_id"], "actor": "ai:deal-hygiene",
         "confidence": 0.99},
    )
    assert nego["status"] == "rejected"
    assert {v["field"] for v in nego["violations"]} == {"Amount", "NextStep"}
    assert fc["status"] == "queued" and low["status"] == "queued"
    assert shadow["status"] == "shadowed" and "Rating" not in get(run, "Lead", rid)
    assert dele["status"] == "rejected" and dele["violations"][0]["code"] == "blocked_by_risk_tier"
    queue = json.loads(run("approvals", "list").stdout)
    assert {q["change_id"] for q in queue} == {fc["change_id"], low["change_id"]}

    close, step = propose(run, {**hyg, "confidence": 0.9, "fields": {"CloseDate": "2027-03-31"}},
                          {**hyg, "confidence": 0.9, "fields": {"NextStep": "AI plan"}})
    undo = json.loads(run("rollback", "--change", close["change_id"]).stdout)
    assert undo["status"] == "reverted" and get(run, "Opportunity", o["record_id"])["CloseDate"] == "2027-01-29"
    run("sandbox", "edit", "Opportunity", o["record_id"], "NextStep=Rep plan", "--as", "person:rep")
    conflict = json.loads(run("rollback", "--change", step["change_id"]).stdout)
    assert conflict["status"] == "conflict" and conflict["conflicts"] == ["NextStep"]
    assert get(run, "Opportunity", o["record_id"])["NextStep"] == "Rep plan"

    assert json.loads(run("trail", "verify").stdout)["ok"] is True
    db = project / "trail.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE trail_entries SET body = replace(body, 'Okafor', 'Okafour') WHERE seq = 1")
    bad = run("trail", "verify", ok=False)
    assert bad.exit_code == 1 and json.loads(bad.stdout)["first_bad_seq"] == 1
    recompute_chain(db)
    forged = run("trail", "verify", ok=False)
    assert forged.exit_code == 1
    report = json.loads(forged.stdout)
    assert report["ok"] is False and report["first_bad_seq"] == 1


@pytest.mark.parametrize("bad, code", [
    ("{not json", "invalid_json"),
    ('{"object": "Lead", "op": "update", "actor": "ai:x"}', "invalid_proposal"),
    ('[{"object": "Lead", "op": "create", "actor": "ai:lead-intake-1", "fields": {}}, 7]', "invalid_proposal"),
    ('{"object": "Lead", "op": "explode", "actor": "ai:x"}', "invalid_proposal"),
    ("", "invalid_proposal"),
])
def test_malformed_input_exits_2_and_writes_nothing(run, project, bad, code):
    """Malformed proposals exit 2 with a structured error on stderr and leave the trail empty."""
    result = run("propose", "-", input=bad, ok=False)
    assert result.exit_code == 2
    assert json.loads(result.stderr)["error"]["code"] == code
    assert "Traceback" not in result.output + result.stderr
    head = json.loads(run("trail", "verify").stdout)
    assert head["entries"] == 0


def test_bad_config_and_rulebook_are_structured_errors(tmp_path, project):
    """A broken config or rulebook gives a JSON error and exit 2, never a traceback."""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("crm: {kind: salesforc}\n")
    r = CliRunner().invoke(cli, ["--config", str(cfg), "approvals", "list"])
    assert r.exit_code == 2 and json.loads(r.stderr)["error"]["code"] == "invalid_config"
    r = CliRunner().invoke(cli, ["--config", str(tmp_path / "missing.yaml"), "approvals", "list"])
    assert r.exit_code == 2 and "not found" in json.loads(r.stderr)["error"]["message"]
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nobjects: {}\nrisk: {default: hgh, tiers: {}}\nuse_cases: {}\n")
    r = CliRunner().invoke(cli, ["rules", "check", str(rules)])
    assert r.exit_code == 2
    err = json.loads(r.stderr)["error"]
    assert err["code"] == "invalid_rulebook" and err["problems"]
    r = CliRunner().invoke(cli, ["rules", "check", str(project / "rules.yaml")])
    assert r.exit_code == 0 and json.loads(r.stdout)["ok"] is True


def test_trail_show_prints_newest_entries(run):
    """trail show prints entries as JSON Lines, the newest N by default."""
    propose(run, {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
                  "fields": {"LastName": "A", "Company": "B"}})
    lines = [json.loads(x) for x in run("trail", "show", "--limit", "2").stdout.splitlines()]
    assert [e["kind"] for e in lines] == ["write.intent", "write.result"]
    assert [e["seq"] for e in lines] == [2, 3]


def test_verify_refuses_a_missing_trail(run, project):
    """Pointing verify at a trail database that does not exist is an error, not a valid empty trail."""
    (project / "trail.db").unlink()
    r = run("trail", "verify", ok=False)
    assert r.exit_code == 1 and json.loads(r.stderr)["error"]["code"] == "trail_store_error"
    assert not (project / "trail.db").exists()


def test_rollback_unknown_change_exits_2(run):
    """Rolling back a change that does not exist is a user error with a code."""
    r = run("rollback", "--change", "chg_missing", ok=False)
    assert r.exit_code == 2 and json.loads(r.stderr)["error"]["code"] == "unknown_change"


def test_sandbox_edit_parses_values(run):
    """FIELD=VALUE reads JSON scalars as such and anything else as text."""
    rid = propose(run, {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
                        "fields": {"LastName": "A", "Company": "B"}})[0]["record_id"]
    run("sandbox", "edit", "Lead", rid, "NumberOfEmployees=42", "Company=Acme, Inc.", "Rating=null")
    f = get(run, "Lead", rid)
    assert f["NumberOfEmployees"] == 42 and f["Company"] == "Acme, Inc." and f.get("Rating") is None


def test_init_refuses_to_overwrite(project):
    """init never overwrites an existing project (keys above all)."""
    r = CliRunner().invoke(cli, ["init", str(project)])
    assert r.exit_code == 2 and json.loads(r.stderr)["error"]["code"] == "already_initialised"


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    """Every command and group under ``group``, walked from the CLI itself so none is forgotten."""
    out = [list(prefix)]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            out += _command_paths(command, (*prefix, name))
        else:
            out.append([*prefix, name])
    return out


COMMANDS = _command_paths(cli)
assert ["tokens", "create"] in COMMANDS and ["serve"] in COMMANDS and ["mcp"] in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "crmgate")
def test_every_command_has_help(path):
    """Every command answers --help with a usage line."""
    r = CliRunner().invoke(cli, [*path, "--help"])
    assert r.exit_code == 0 and "Usage:" in r.output


def test_demo_runs_and_passes():
    """crmgate demo completes its walkthrough and exits 0."""
    r = CliRunner().invoke(cli, ["demo"])
    assert r.exit_code == 0, r.output
    assert "BAD" not in r.output and "all steps behaved" in r.output


def test_console_script_is_installed():
    """The `crmgate` console script is on the venv's path and runs."""
    script = Path(sys.executable).parent / "crmgate"
    if not script.exists():
        pytest.skip("crmgate is not installed as a console script in this environment")
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    assert "governed door" in out.stdout


def _cfg(project: Path, old: str, new: str) -> Path:
    cfg = project / "crmgate.yaml"
    cfg.write_text(cfg.read_text().replace(old, new))
    return cfg


LEAD = json.dumps({"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
                   "fields": {"LastName": "A", "Company": "B"}})


@pytest.mark.parametrize("setup, code", [
    (lambda p: (p / "trail.key").unlink(), "invalid_trail_key"),
    (lambda p: _cfg(p, "store: sqlite:///trail.db", "store: mysql://db/crm"), "invalid_config"),
    (lambda p: _cfg(p, "path: sandbox.db", "path: sandbx.db"), "invalid_config"),
    (lambda p: _cfg(p, "store: sqlite:///trail.db", "store: sqlite:///trial.db"), "invalid_config"),
    (lambda p: (p / "trail.pub").write_bytes(_other_public_key()), "invalid_trail_key"),
])
def test_broken_setups_are_structured_errors_and_create_nothing(run, project, setup, code):
    """A missing or mismatched trail key, an unsupported store URL, or a typo'd path to the CRM or
    the trail is exit 2 with a code, and no new database file appears."""
    setup(project)
    before = sorted(p.name for p in project.iterdir())
    r = run("propose", "-", input=LEAD, ok=False)
    assert r.exit_code == 2, r.output
    assert json.loads(r.stderr)["error"]["code"] == code
    assert "Traceback" not in r.output + r.stderr
    assert sorted(p.name for p in project.iterdir()) == before


def _other_public_key() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_bad_keys_and_self_referencing_yaml_are_structured(run, project, tmp_path, monkeypatch):
    """A key that is not a key, in a file or in CRMGATE_TRAIL_KEY, and a rulebook whose YAML alias
    refers to itself are exit 2 with a code, never a traceback."""
    r = run("trail", "verify", "--public-key", str(project / "crmgate.yaml"), ok=False)
    assert r.exit_code == 2 and json.loads(r.stderr)["error"]["code"] == "invalid_trail_key"
    monkeypatch.setenv("CRMGATE_TRAIL_KEY", "SuperSecretValue123")
    r = run("propose", "-", input=LEAD, ok=False)
    assert r.exit_code == 2 and "SuperSecretValue123" not in r.output + r.stderr
    loop = tmp_path / "loop.yaml"
    loop.write_text("a: &a [*a]\n")
    r = CliRunner().invoke(cli, ["rules", "check", str(loop)])
    assert r.exit_code == 2 and json.loads(r.stderr)["error"]["code"] == "invalid_rulebook"


def test_non_finite_numbers_are_refused_whole(run):
    """NaN or 1e400 in a proposal is malformed input: exit 2, and the good proposal beside it is
    not processed either."""
    bad = LEAD.replace('"Company": "B"', '"Company": "B", "NumberOfEmployees": NaN')
    for text in (bad, "[" + LEAD + "," + bad.replace("NaN", "1e400") + "]"):
        r = run("propose", "-", input=text, ok=False)
        assert r.exit_code == 2 and json.loads(r.stderr)["error"]["code"] == "invalid_proposal"
    assert json.loads(run("trail", "verify").stdout)["entries"] == 0


def test_tokens_create_list_revoke(run):
    """A token is printed once; list never shows it; revoke records who; the trail holds both."""
    made = json.loads(run("tokens", "create", "--actor", "ai:lead-intake-1", "--scope", "propose,read",
                          "--scope", "read", "--label", "intake bot", "--rate-limit", "30").stdout)
    assert made["scopes"] == ["propose", "read"] and made["token"].startswith(f"crmgate.{made['id']}.")
    listed = json.loads(run("tokens", "list").stdout)
    assert [c["id"] for c in listed] == [made["id"]] and "token" not in listed[0]
    assert made["token"] not in run("tokens", "list").stdout
    revoked = json.loads(run("tokens", "revoke", made["id"], "--by", "admin:ana").stdout)
    assert revoked["revoked_by"] == "admin:ana" and revoked["revoked_at"]
    kinds = [json.loads(line)["kind"] for line in run("trail", "show").stdout.splitlines()]
    assert kinds == ["credential.created", "credential.revoked"]
    run("trail", "verify")


@pytest.mark.parametrize("args, code", [
    (["--actor", "ai:deal-hygiene", "--scope", "approve"], "scope_not_allowed"),
    (["--actor", "admin:ana", "--scope", "superuser"], "unknown_scope"),
])
def test_tokens_create_refusals(run, args, code):
    """An AI approver or an unknown scope: exit 2, a structured error, nothing written."""
    r = run("tokens", "create", *args, ok=False)
    assert r.exit_code == 2 and json.loads(r.stderr)["error"]["code"] == code
    assert run("tokens", "list").stdout.strip() == "[]"
    assert run("trail", "show").stdout.strip() == ""


def test_tokens_revoke_unknown(run):
    """Revoking an id that does not exist is exit 2 unknown_credential."""
    r = run("tokens", "revoke", "cred_nope", ok=False)
    assert r.exit_code == 2 and json.loads(r.stderr)["error"]["code"] == "unknown_credential"


def test_tokens_create_token_only(run):
    """--token-only prints the bare token, the one line a shell `$(...)` needs."""
    out = run("tokens", "create", "--actor", "ai:x", "--scope", "propose", "--token-only").stdout
    assert out.count("\n") == 1 and out.startswith("crmgate.cred_") and "{" not in out
