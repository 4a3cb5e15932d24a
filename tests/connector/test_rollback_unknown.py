"""A rollback write whose answer was lost is reported unknown, never failed, and a second run settles it."""
from __future__ import annotations

from tests.connector.conftest import hygiene, opp


def test_lost_answer_to_a_rollback_write_is_unknown_and_a_rerun_is_safe(gate, sandbox):
    """The sandbox applies the rollback write and then drops the answer: the report says unknown (not
    failed, not ok); the trail's rollback.result says unknown; running the rollback again finds the
    field already back and writes nothing more."""
    deal = gate.propose(opp())[0].record_id
    ch = gate.propose(hygiene(deal, NextStep="Send the contract"))[0]
    assert ch.status == "applied"
    sandbox.inject_fault("update_many", code="connection_error", whole_call=True, after_write=True, times=10)

    report = gate.rollback(ch.change_id, by="admin:ana")

    assert report.status == "unknown" and "outcome unknown" in report.message
    results = [e for e in gate.store.iter_entries() if e.kind == "rollback.result"]
    assert [e.data["status"] for e in results] == ["unknown"]
    assert sandbox.get_many("Opportunity", [deal])[deal].fields.get("NextStep") is None  # it did land
    sandbox.clear_faults()
    again = gate.rollback(ch.change_id, by="admin:ana")
    assert again.status in ("noop", "reverted")
    assert sandbox.get_many("Opportunity", [deal])[deal].fields.get("NextStep") is None


def test_refused_rollback_write_is_failed(gate, sandbox):
    """A refusal the CRM certainly did not apply stays failed."""
    deal = gate.propose(opp())[0].record_id
    ch = gate.propose(hygiene(deal, NextStep="Send the contract"))[0]
    sandbox.inject_fault("update_many", code="FIELD_CUSTOM_VALIDATION_EXCEPTION", status=400, record_id=deal)
    assert gate.rollback(ch.change_id, by="admin:ana").status == "failed"
