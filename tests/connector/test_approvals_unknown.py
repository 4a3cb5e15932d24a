"""An approved write whose outcome nobody can know is ``unknown``, never ``failed``, and reconcile settles it."""
from __future__ import annotations

from crmgate.audit.status import change_entries, summarize
from tests.connector.conftest import hygiene, opp


def _queued(gate):
    deal = gate.propose(opp())[0].record_id
    q = gate.propose(hygiene(deal, ForecastCategoryName="Commit"))[0]
    assert q.status == "queued"
    return deal, q


def test_lost_reply_after_the_approved_write_is_unknown_then_reconciled_as_applied(gate, sandbox):
    """The CRM applied the approved write but the reply was lost: the approval answers unknown (not
    failed); reconcile finds the values in the record and records the change as applied."""
    deal, q = _queued(gate)
    sandbox.inject_fault("update_many", code="SERVER_UNAVAILABLE", status=503, whole_call=True, after_write=True,
                         times=10)
    result = gate.approve(q.change_id, by="admin:ana")
    assert result.status == "unknown" and "reconcile" in result.message
    assert sandbox.get_many("Opportunity", [deal])[deal].fields["ForecastCategoryName"] == "Commit"
    sandbox.clear_faults()

    report = gate.reconcile()

    assert [(v.change_id, v.verdict) for v in report.items] == [(q.change_id, "applied")]
    assert summarize(change_entries(gate.store, q.change_id))["status"] == "applied"
    assert gate.reconcile().items == ()  # settled: off the work list


def test_refused_approved_write_is_failed_and_not_on_the_work_list(gate, sandbox):
    """A refusal the CRM certainly did not apply stays failed, and reconcile has nothing to judge."""
    deal, q = _queued(gate)
    sandbox.inject_fault("update_many", code="FIELD_CUSTOM_VALIDATION_EXCEPTION", status=400, record_id=deal)
    result = gate.approve(q.change_id, by="admin:ana")
    assert result.status == "failed"
    assert gate.reconcile().items == ()
