"""POST /v1/approvals/{id}/requeue: a stale change decided again, with the scope of approving."""
from __future__ import annotations


def test_requeue_over_http(client, token, admin, service):
    """A stale change (its own field moved) is requeued by an admin as a new pending change that
    approves; an agent's token lacks the scope (403); a pending change is not stale (409)."""
    gate = service.gate
    deal = gate.propose({"object": "Opportunity", "op": "create", "actor": "ai:deal-intake",
                         "fields": {"Name": "Initech", "StageName": "Proposal", "CloseDate": "2027-01-29"}})[0]
    deals = token("ai:deal-hygiene", "propose")
    change = {"object": "Opportunity", "op": "update", "record_id": deal.record_id, "confidence": 0.9,
              "fields": {"ForecastCategoryName": "Commit"}}
    [q] = client.post("/v1/proposals", json={"proposals": [change]}, headers=deals).json()["outcomes"]
    r = client.post(f"/v1/approvals/{q['change_id']}/requeue", headers=admin)
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_stale"
    gate.adapter.edit("Opportunity", deal.record_id, {"ForecastCategoryName": "Pipeline"})
    stale = client.post(f"/v1/approvals/{q['change_id']}/approve", json={}, headers=admin).json()
    assert stale["status"] == "stale" and stale["recheck"]["fields"][0]["now"] == "Pipeline"
    r = client.post(f"/v1/approvals/{q['change_id']}/requeue", json={}, headers=deals)
    assert r.status_code == 403 and r.json()["error"]["code"] == "missing_scope"
    r = client.post(f"/v1/approvals/{q['change_id']}/requeue", json={"note": "rep agrees"}, headers=admin)
    assert r.status_code == 200, r.json()
    new = r.json()
    assert new["status"] == "pending" and new["requeued_from"] == q["change_id"] and new["requeued_by"] == "admin:ana"
    done = client.post(f"/v1/approvals/{new['change_id']}/approve", json={}, headers=admin).json()
    assert done["status"] == "applied"
    assert gate.record("Opportunity", deal.record_id).fields["ForecastCategoryName"] == "Commit"
