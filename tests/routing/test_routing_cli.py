"""Routing and replay through the command line, on a project made by `crmgate init --with-routing`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmgate.doors.cli import cli


@pytest.fixture
def project(tmp_path: Path) -> Path:
    r = CliRunner().invoke(cli, ["init", str(tmp_path / "p"), "--with-routing"])
    assert r.exit_code == 0, r.output
    return tmp_path / "p"


def invoke(project: Path, *args: str, input: str | None = None):
    r = CliRunner().invoke(cli, ["--config", str(project / "crmgate.yaml"), *args], input=input)
    assert r.exit_code == 0, (r.output, r.stderr)
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def lead(company: str, **fields) -> dict:
    return {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
            "fields": {"LastName": "Ng", "Company": company, **fields}}


def test_example_routes_through_propose_with_trace(project):
    """Enriched by the sample provider, routed by the example rules, traced in outcome and trail."""
    outs = invoke(project, "propose", "-", input="\n".join(json.dumps(p) for p in [
        lead("Nordwind GmbH"),                                   # DE, 4200 people -> emea-enterprise pool
        lead("Acme Corp", Country="US", NumberOfEmployees=10, Rating="Warm"),   # named account
        lead("Initech"),                                         # US -> north-america pool
        lead("Société Lumière", Rating="Hot"),                   # FR, 80 people -> emea
    ]))
    got = [(o["status"], o["routing"]["winner"], o["routing"]["step"], o["routing"]["owner"]) for o in outs]
    assert got == [
        ("applied", "emea-enterprise", "pool", "005EE1"),
        ("applied", "named-accounts", "guardrail", "005STRATEGIC"),
        ("applied", "north-america", "pool", "005NA1"),
        ("applied", "emea", "priority", "005EMEA1"),
    ]
    assert outs[0]["provenance"]["Country"]["detail"] == "sample-firmographics"
    assert outs[0]["routing"]["pool_after"] == {"cursor": 1, "counts": {"005EE1": 1}}
    rec = invoke(project, "records", "get", "Lead", outs[0]["record_id"])[0]
    assert rec["fields"]["OwnerId"] == "005EE1" and rec["fields"]["NumberOfEmployees"] == 4200
    entries = invoke(project, "trail", "show", "--limit", "100")
    decided = [e for e in entries if e["kind"] == "proposal.decided"]
    assert decided[0]["data"]["routing"]["candidates"][0]["id"] == "emea-enterprise"


def test_unknown_company_is_held_by_enrichment_policy(project):
    """The sample provider knows nothing about this company: Country's policy (hold) queues it."""
    [out] = invoke(project, "propose", "-", input=json.dumps(lead("Nobody Ltd")))
    assert out["status"] == "queued" and out["rule"] == "enrichment.Lead.fields.Country.on_failure"


def test_replay_prints_the_diff_for_a_changed_rulebook(project):
    """Replaying under a rulebook that sends small EMEA leads elsewhere reports exactly those."""
    invoke(project, "propose", "-", input="\n".join(json.dumps(p) for p in [
        lead("Société Lumière", Rating="Hot"), lead("Initech"), lead("Nordwind GmbH")]))
    rules = (project / "rules.yaml").read_text()
    new = project / "rules-next.yaml"
    new.write_text(rules.replace('assign: {owner: "005EMEA1"}', 'assign: {owner: "005EMEA9"}'))
    summary, *diffs = invoke(project, "routing", "replay", "--rules", str(new))
    assert summary["decisions"] == 3 and summary["would_change_owner"] == 1
    assert summary["transitions"] == [{"from_rule": "emea", "to_rule": "emea", "count": 1}]
    assert [(d["old"]["owner"], d["new"]["owner"]) for d in diffs] == [("005EMEA1", "005EMEA9")]
    same, *none = invoke(project, "routing", "replay", "--rules", str(project / "rules.yaml"))
    assert same["would_change_owner"] == 0 and none == []


def test_replay_under_the_same_rulebook_changes_nothing_even_for_refused_suggestions(project):
    """A suggestion the live path refused (the use case may not write OwnerId) is refused in
    replay too, so replaying the unchanged rulebook reports no difference."""
    [out] = invoke(project, "propose", "-", input=json.dumps(lead("Initech", OwnerId="005NA2")))
    assert out["routing"]["suggestion_status"] == "field_not_allowed"
    summary, *diffs = invoke(project, "routing", "replay", "--rules", str(project / "rules.yaml"))
    assert summary["decisions"] == 1 and summary["would_change_owner"] == 0 and diffs == []


def test_replay_window_understands_offsets_and_refuses_garbage(project):
    """--since with an offset is compared as a time, not as text; a bad time is exit 2."""
    invoke(project, "propose", "-", input=json.dumps(lead("Initech")))
    entries = invoke(project, "trail", "show", "--limit", "1")
    ts = entries[0]["ts"]  # e.g. 2026-11-22T09:30:00.123456Z
    hour = int(ts[11:13])
    earlier_with_offset = f"{ts[:11]}{(hour + 1) % 24:02d}:00:00+{1:02d}:00" if hour < 23 else ts[:10]
    [summary] = invoke(project, "routing", "replay", "--rules", str(project / "rules.yaml"),
                       "--since", earlier_with_offset)
    assert summary["decisions"] == 1
    r = CliRunner().invoke(cli, ["--config", str(project / "crmgate.yaml"), "routing", "replay",
                                 "--rules", str(project / "rules.yaml"), "--since", "garbage"])
    assert r.exit_code == 2 and json.loads(r.stderr)["error"]["code"] == "invalid_time"
