"""`crmgate propose` and `crmgate rollback --change` with `crm: {kind: hubspot}` pointed at the fake."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmgate.doors.cli import cli
from crmgate.trail import TrailStore, generate_keypair
from tests.fakes.hubspot_fake import FakeHubSpot
from tests.hubspot.conftest import HUBSPOT_RULES, TOKEN


@pytest.fixture
def live_fake():
    """The fake on the wall clock: the CLI builds its adapter from settings, with real time."""
    with FakeHubSpot(token=TOKEN) as server:
        yield server


@pytest.fixture
def run(tmp_path: Path, live_fake: FakeHubSpot, monkeypatch):
    monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
    monkeypatch.delenv("CRMGATE_TRAIL_KEY", raising=False)
    (tmp_path / "rules.yaml").write_text(HUBSPOT_RULES, encoding="utf-8")
    (tmp_path / "crmgate.yaml").write_text(
        f"crm: {{kind: hubspot, host: '{live_fake.url}', rate_limit: {{requests: 190, per_seconds: 10}}}}\n"
        "store: sqlite:///trail.db\nrules: rules.yaml\ntrail_key_file: trail.key\n", encoding="utf-8")
    generate_keypair(tmp_path / "trail.key", tmp_path / "trail.pub")
    TrailStore(f"sqlite:///{tmp_path / 'trail.db'}").close()

    def invoke(*args: str, input: str | None = None):
        result = CliRunner().invoke(cli, ["--config", str(tmp_path / "crmgate.yaml"), *args], input=input)
        assert result.exit_code == 0, (result.output, result.stderr)
        return result
    return invoke


def test_propose_then_rollback_through_the_cli(run, live_fake):
    """An AI update is applied to HubSpot via the CLI, then rolled back to the before-values."""
    rid = live_fake.seed("deals", {"dealname": "Nordwind", "dealstage": "qualifiedtobuy", "amount": "1000"})
    proposal = {"object": "deals", "op": "update", "record_id": rid, "actor": "ai:deal-hygiene",
                "confidence": 0.9, "fields": {"dealstage": "contractsent", "amount": 1100}}
    [outcome] = [json.loads(line) for line in run("propose", "-", input=json.dumps(proposal)).stdout.splitlines()]
    assert outcome["status"] == "applied", outcome
    assert live_fake.record("deals", rid)["dealstage"] == "contractsent"
    assert live_fake.record("deals", rid)["amount"] == "1100"
    assert json.loads(run("records", "get", "deals", rid).stdout)["fields"]["amount"] == 1100
    run("rollback", "--change", outcome["change_id"])
    assert live_fake.record("deals", rid)["dealstage"] == "qualifiedtobuy"
    assert live_fake.record("deals", rid)["amount"] == "1000"
    assert run("trail", "verify").exit_code == 0


def test_create_through_the_cli_is_rolled_back_by_archiving(run, live_fake):
    """A contact created through the CLI carries its idempotency key; rolling the change back archives it."""
    proposal = {"object": "contacts", "op": "create", "actor": "ai:enricher",
                "fields": {"email": "ng@example.com", "firstname": "Ada"}}
    [outcome] = [json.loads(line) for line in run("propose", "-", input=json.dumps(proposal)).stdout.splitlines()]
    assert outcome["status"] == "applied", outcome
    rid = outcome["record_id"]
    assert live_fake.record("contacts", rid)["crmgate_idempotency_key"] == outcome["change_id"]
    run("rollback", "--change", outcome["change_id"])
    assert live_fake.record("contacts", rid) is None


def test_missing_token_is_a_clear_cli_error(run, tmp_path, monkeypatch):
    """Without HUBSPOT_TOKEN the CLI refuses with a config error naming the variable, no traceback."""
    monkeypatch.delenv("HUBSPOT_TOKEN")
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "crmgate.yaml"), "records", "get", "deals", "1"])
    assert result.exit_code == 2, result.output
    assert "HUBSPOT_TOKEN" in result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr
