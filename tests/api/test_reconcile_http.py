"""HTTP: unknown and in_progress outcomes, 409 + Retry-After for a key in flight, POST /v1/reconcile."""
from __future__ import annotations

import pytest

from crmgate.adapters.sandbox.faults import ProcessKilled
from tests.api.conftest import lead


def test_a_key_in_flight_answers_409_with_retry_after(client, service, agent):
    """The first attempt died mid-write moments ago: a repeat is 409 in_progress, telling the agent to
    wait and keep the key; after reconcile (admin, scope rollback) the repeat replays applied."""
    service.gate.adapter.inject_fault("create_many", code="process_killed", whole_call=True, after_write=True)
    with pytest.raises(ProcessKilled):
        service.gate.propose({**lead(), "actor": "ai:lead-intake-1", "idempotency_key": "k-http"})
    r = client.post("/v1/proposals", json={"proposals": [{**lead(), "idempotency_key": "k-http"}]}, headers=agent)
    assert r.status_code == 409 and r.headers["Retry-After"] == "5"
    [out] = r.json()["outcomes"]
    assert out["status"] == "in_progress" and "never retry under a new key" in out["error"]["message"]
    assert client.post("/v1/reconcile", json={}, headers=agent).status_code == 403  # admin only


def test_reconcile_endpoint_resolves_an_unknown_write(client, service, agent, admin):
    """A 503 after the sandbox applied the create: unknown over HTTP; POST /v1/reconcile makes it applied."""
    service.gate.adapter.inject_fault("create_many", code="SERVER_UNAVAILABLE", status=503, whole_call=True,
                                      after_write=True)
    r = client.post("/v1/proposals", json={"proposals": [lead()]}, headers=agent)
    assert r.status_code == 200 and r.json()["outcomes"][0]["status"] == "unknown"
    dry = client.post("/v1/reconcile", json={"dry_run": True}, headers=admin).json()
    assert dry["summary"]["planned"] == 1
    done = client.post("/v1/reconcile", json={}, headers=admin).json()
    assert done["summary"]["applied"] == 1 and done["unresolved"] == []
    change = r.json()["outcomes"][0]["change_id"]
    assert client.get(f"/v1/changes/{change}", headers=admin).json()["status"] == "applied"
