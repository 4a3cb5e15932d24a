"""crmgate.audit.status: a proposal's current state, folded from its trail entries."""
from __future__ import annotations

from crmgate.audit.status import change_entries, summarize


def test_applied_then_rolled_back(gate):
    """An applied change reads applied; after a rollback it reads rolled_back, by whom."""
    [o] = gate.propose({"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
                        "fields": {"LastName": "Ng", "Company": "Initech"}})
    assert summarize(change_entries(gate.store, o.change_id))["status"] == "applied"
    gate.rollback(o.change_id, by="admin:ana")
    view = summarize(change_entries(gate.store, o.change_id))
    assert (view["status"], view["rolled_back_by"], view["record_id"]) == ("rolled_back", "admin:ana", o.record_id)


def test_queued_then_approved_or_rejected(gate):
    """Queued reads queued; approved and written reads applied with the approver; rejected names who."""
    [deal] = gate.propose({"object": "Opportunity", "op": "create", "actor": "ai:deal-intake",
                           "fields": {"Name": "Initech", "StageName": "Proposal", "CloseDate": "2027-01-29"}})
    ask = {"object": "Opportunity", "op": "update", "record_id": deal.record_id, "actor": "ai:deal-hygiene",
           "confidence": 0.9, "fields": {"ForecastCategoryName": "Commit"}}
    [q1] = gate.propose(ask)
    assert summarize(change_entries(gate.store, q1.change_id))["status"] == "queued"
    gate.approve(q1.change_id, by="admin:ana")
    view = summarize(change_entries(gate.store, q1.change_id))
    assert (view["status"], view["approved_by"]) == ("applied", "admin:ana")
    [q2] = gate.propose({**ask, "fields": {"ForecastCategoryName": "Omitted"}})
    gate.reject(q2.change_id, by="admin:bo", reason="too early")
    view = summarize(change_entries(gate.store, q2.change_id))
    assert (view["status"], view["rejected_by"], view["rejection_reason"]) == ("rejected", "admin:bo", "too early")


def test_an_intent_without_a_result_is_unresolved(gate, sandbox):
    """A write whose result was never recorded (the process died mid-call) is unresolved, not applied."""
    [o] = gate.propose({"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
                        "fields": {"LastName": "Ng", "Company": "Initech"}})
    entries = [e for e in change_entries(gate.store, o.change_id) if e.kind != "write.result"]
    assert summarize(entries)["status"] == "unresolved"


def test_unknown_change_has_no_entries(gate):
    """An id the trail never saw gives no entries (callers report not found)."""
    assert change_entries(gate.store, "chg_unknown") == []
