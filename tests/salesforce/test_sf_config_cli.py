"""Settings and credentials, rules from-describe, and propose/rollback through the CLI against the fake."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmgate.adapters.errors import AdapterConfigError
from crmgate.adapters.salesforce.adapter import SalesforceAdapter
from crmgate.adapters.salesforce.describe import objects_section, objects_yaml
from crmgate.doors.cli import cli
from crmgate.rules.loader import parse_rulebook
from tests.fakes.salesforce_fake import DATA, SESSION_ID

GOOD = {"instance_url": "https://acme.my.salesforce.com"}


@pytest.mark.parametrize(("settings", "env", "needle"), [
    ({}, {"SALESFORCE_SESSION_ID": "s"}, "instance_url"),
    ({**GOOD, "api_version": "latest"}, {"SALESFORCE_SESSION_ID": "s"}, "api_version"),
    ({"instance_url": "http://acme.my.salesforce.com"}, {"SALESFORCE_SESSION_ID": "s"}, "loopback"),
    ({**GOOD, "batch_check": "never"}, {"SALESFORCE_SESSION_ID": "s"}, "batch_check"),
    ({**GOOD, "retry": {"attempts": 0}}, {"SALESFORCE_SESSION_ID": "s"}, "retry.attempts"),
    ({**GOOD, "sesion_id": "x"}, {"SALESFORCE_SESSION_ID": "s"}, "unknown salesforce setting"),
    (GOOD, {}, "SALESFORCE_SESSION_ID"),
    ({**GOOD, "credentials_env": {"session_id": "MY_SF_TOKEN"}}, {"SALESFORCE_SESSION_ID": "s"}, "MY_SF_TOKEN"),
])
def test_bad_settings_or_credentials_are_clear_config_errors(settings, env, needle):
    """Missing or invalid settings and credentials raise AdapterConfigError naming the problem."""
    with pytest.raises(AdapterConfigError) as info:
        SalesforceAdapter.from_settings(settings, env=env)
    # credentials that are not there are missing_credentials; anything else wrong is invalid_crm_config
    missing = needle in ("SALESFORCE_SESSION_ID", "MY_SF_TOKEN")
    assert info.value.code == ("missing_credentials" if missing else "invalid_crm_config")
    assert needle in info.value.message


def test_credential_variable_names_are_configurable_and_secrets_stay_hidden():
    """A session id read from a configured variable reaches the client; repr never shows it."""
    adapter = SalesforceAdapter.from_settings({**GOOD, "api_version": 59.0, "credentials_env": {"session_id": "TOK"}},
                                              env={"TOK": "00D!very-secret"})
    assert adapter.settings.api_version == "59.0"
    assert adapter._sf.session_id == "00D!very-secret"
    from crmgate.adapters.salesforce.settings import Credentials
    assert "very-secret" not in repr(Credentials("session", session_id="00D!very-secret"))
    adapter.close()


def test_describe_becomes_a_rulebook_objects_section_that_loads():
    """Real describe metadata gives types, required-on-create, picklists and lengths; it parses."""
    describes = [json.loads((DATA / f"describe_{o}.json").read_text()) for o in ("Lead", "Opportunity")]
    section = objects_section(describes)
    lead, opp = section["objects"]["Lead"]["fields"], section["objects"]["Opportunity"]["fields"]
    assert lead["LastName"] == {"type": "string", "required": True, "max_length": 80}
    assert lead["Email"] == {"type": "email", "max_length": 80}
    assert lead["NumberOfEmployees"] == {"type": "integer"}
    assert lead["Rating"]["type"] == "picklist" and "Hot" in lead["Rating"]["values"]
    assert [f for f, s in opp.items() if s.get("required")] == ["Name", "StageName", "CloseDate"]
    assert opp["Amount"] == {"type": "number"} and opp["CloseDate"] == {"type": "date", "required": True}
    assert "SystemModstamp" not in opp and "Id" not in lead
    rb = parse_rulebook(objects_yaml(describes) + "risk: {tiers: {low: apply, medium: apply, high: approve, "
                        "critical: block}}\nversion: 1\n", source="generated.yaml")
    assert set(rb.objects) == {"Lead", "Opportunity"}


# -- the CLI against the fake ---------------------------------------------------------------------

@pytest.fixture
def project(tmp_path: Path, fake, monkeypatch) -> Path:
    monkeypatch.delenv("CRMGATE_TRAIL_KEY", raising=False)
    monkeypatch.setenv("SALESFORCE_SESSION_ID", SESSION_ID)
    assert CliRunner().invoke(cli, ["init", str(tmp_path / "p")]).exit_code == 0
    config = tmp_path / "p" / "crmgate.yaml"
    text = config.read_text().replace("crm: {kind: sandbox, path: sandbox.db}",
                                      f"crm: {{kind: salesforce, instance_url: {fake.url}, "
                                      "idempotency_field: Crmgate_Key__c}")
    assert "kind: salesforce" in text
    config.write_text(text)
    return tmp_path / "p"


def run(project: Path, *args: str, input: str | None = None, code: int = 0):
    result = CliRunner().invoke(cli, ["--config", str(project / "crmgate.yaml"), *args], input=input)
    assert result.exit_code == code, (result.output, result.stderr)
    return result


def test_propose_and_rollback_through_the_cli_against_the_fake(project, fake):
    """Create, update and roll back the update with crm kind salesforce; the trail holds the
    Salesforce ids, the before/after values and a failure's Salesforce errorCode."""
    lead = {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
            "fields": {"LastName": "Okafor", "Company": "Nordwind GmbH"}}
    [created] = [json.loads(line) for line in run(project, "propose", "-", input=json.dumps(lead)).stdout.splitlines()]
    rid = created["record_id"]
    assert created["status"] == "applied" and rid.startswith("00Q") and len(rid) == 18
    fake.clock.advance(2)
    update = {"object": "Lead", "op": "update", "record_id": rid, "actor": "ai:lead-intake-1",
              "fields": {"NumberOfEmployees": 250}}
    [updated] = [json.loads(x) for x in run(project, "propose", "-", input=json.dumps(update)).stdout.splitlines()]
    assert updated["status"] == "applied" and fake.record(rid)["NumberOfEmployees"] == 250
    fake.clock.advance(2)
    report = json.loads(run(project, "rollback", "--change", updated["change_id"]).stdout)
    assert report["status"] == "reverted" and "NumberOfEmployees" not in fake.record(rid)
    fake.clock.advance(2)
    fake.add_validation_rule("Lead", lambda r: r.get("Rating") == "Hot", "No hot leads today", ["Rating"])
    bad = {**update, "fields": {"Rating": "Hot"}}
    [failed] = [json.loads(x) for x in run(project, "propose", "-", input=json.dumps(bad)).stdout.splitlines()]
    assert failed["status"] == "failed" and failed["error"]["code"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"

    entries = [json.loads(x) for x in run(project, "trail", "show", "--limit", "100").stdout.splitlines()]
    results = [e for e in entries if e["kind"] in ("write.result", "rollback.result")]
    assert [(e["kind"], e["record_id"], e["data"]["status"]) for e in results] == [
        ("write.result", rid, "ok"), ("write.result", rid, "ok"), ("rollback.result", rid, "ok"),
        ("write.result", rid, "failed")]
    assert results[-1]["data"]["error"]["code"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    intents = [e for e in entries if e["kind"] in ("write.intent", "rollback.intent")]
    assert intents[1]["data"]["changes"] == [{"field": "NumberOfEmployees", "before": None, "after": 250}]
    assert intents[2]["data"]["changes"] == [{"field": "NumberOfEmployees", "before": 250, "after": None}]
    assert SESSION_ID not in json.dumps(entries)
    run(project, "trail", "verify")


def test_rules_from_describe_prints_a_loadable_objects_section(project):
    """`crmgate rules from-describe Lead Opportunity` prints YAML that a rulebook accepts."""
    out = run(project, "rules", "from-describe", "Lead", "Opportunity").stdout
    assert out.startswith("objects:\n  Lead:\n    fields:\n")
    assert "      StageName: {type: picklist, required: true, values: [" in out
    rb = parse_rulebook(out + "version: 1\nrisk: {tiers: {low: apply, medium: apply, high: approve, critical: block}}\n")
    assert rb.objects["Lead"].fields["Company"].required


def test_rules_from_describe_with_an_unknown_object_is_a_structured_error(project):
    """An object the org does not have is a JSON error on stderr, not a traceback."""
    result = run(project, "rules", "from-describe", "Nope__c", code=1)
    assert json.loads(result.stderr)["error"]["code"] == "NOT_FOUND"


def test_missing_credentials_through_the_cli_are_a_config_error(project, monkeypatch):
    """Without the session variable, propose exits 2 naming the variable, and echoes no secret."""
    monkeypatch.delenv("SALESFORCE_SESSION_ID")
    lead = {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1", "fields": {"LastName": "A", "Company": "B"}}
    result = run(project, "propose", "-", input=json.dumps(lead), code=2)
    assert "SALESFORCE_SESSION_ID" in json.loads(result.stderr)["error"]["message"]


def test_an_approved_write_whose_outcome_is_unknown_exits_1(project, fake):
    """`crmgate approvals approve` exits 1 when the approved write's outcome is unknown (the CRM
    applied it but the reply was lost, every retry too), as it does for failed: a script must not
    take an unknown write for a done one. The JSON says unknown and points to reconcile."""
    deal = {"object": "Opportunity", "op": "create", "actor": "ai:deal-intake",
            "fields": {"Name": "Nordwind expansion", "StageName": "Proposal", "CloseDate": "2027-01-29"}}
    [made] = [json.loads(x) for x in run(project, "propose", "-", input=json.dumps(deal)).stdout.splitlines()]
    change = {"object": "Opportunity", "op": "update", "record_id": made["record_id"], "actor": "ai:deal-hygiene",
              "confidence": 0.9, "fields": {"ForecastCategoryName": "Commit"}}
    [queued] = [json.loads(x) for x in run(project, "propose", "-", input=json.dumps(change)).stdout.splitlines()]
    assert queued["status"] == "queued", queued
    config = project / "crmgate.yaml"  # one attempt: no retry, so nothing waits for real
    config.write_text(config.read_text().replace("idempotency_field: Crmgate_Key__c}",
                                                  "idempotency_field: Crmgate_Key__c, retry: {attempts: 1}}"))
    fake.fail("row.update", lose_reply=True)
    result = run(project, "approvals", "approve", queued["change_id"], "--by", "admin:ana", code=1)
    out = json.loads(result.stdout)
    assert out["status"] == "unknown" and "reconcile" in out["message"], out
    assert fake.record(made["record_id"])["ForecastCategoryName"] == "Commit"  # it did land
    assert fake.kinds().count("row.update") == 1
