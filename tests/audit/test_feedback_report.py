"""Outcome feedback and the governance report, checked against a mixed run through Gate.propose."""
from __future__ import annotations

from pathlib import Path

import pytest

from crmgate.adapters.sandbox.adapter import SandboxAdapter
from crmgate.audit.feedback import FeedbackError, record_feedback
from crmgate.audit.report import build_report, governance_report, rates, render_table
from crmgate.trail import NewEntry


class EditingSandbox(SandboxAdapter):
    """A sandbox where a person edits the record just before the next update lands (a conflict)."""

    edit_next = False

    def update_many(self, object, requests):
        if self.edit_next:
            self.edit_next = False
            for r in requests:
                self.edit(object, r.id, {"NextStep": "the rep's plan"})
        return super().update_many(object, requests)


@pytest.fixture
def sandbox(tmp_path: Path, clock) -> EditingSandbox:
    return EditingSandbox(tmp_path / "crm.db", clock=clock)


def lead(name: str, **fields):
    return {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
            "fields": {"LastName": name, "Company": "Nordwind GmbH", "Country": "DE", **fields}}


def hygiene(record_id: str, confidence: float, **fields):
    return {"object": "Opportunity", "op": "update", "record_id": record_id, "actor": "ai:deal-hygiene",
            "confidence": confidence, "fields": fields}


def approve(store, change, *, by: str, edits: dict | None = None) -> None:
    """What the approvals engineer's code appends (the agreed shapes): approval, then intent and result."""
    ids = {"proposal_id": change.proposal_id, "change_id": change.change_id, "use_case": change.use_case,
               "object": change.object, "record_id": change.record_id, "op": change.op}
    store.append([NewEntry(kind="approval.approved", actor=by, **ids, data={
        "approval_id": f"apr_{change.change_id}", "by": by, "note": None, "edits": edits or {}, "changes": []}),
        NewEntry(kind="write.intent", actor=change.actor, **ids, data={"changes": []})])
    store.append([NewEntry(kind="write.result", actor=change.actor, **ids, data={"status": "ok"})])


@pytest.fixture
def run(gate, sandbox, store):
    """A mixed run: applied, rejected, queued, approved (with edits), rejected by a person, shadowed,
    a failure, a conflict, a rollback and feedback."""
    a, b, blank = gate.propose([lead("A"), lead("B"), lead("C", Company="")])
    [opp] = gate.propose({"object": "Opportunity", "op": "create", "actor": "ai:deal-intake",
                          "fields": {"Name": "Deal", "StageName": "Proposal", "CloseDate": "2027-01-29"}})
    rid = opp.record_id
    step, low, forecast = gate.propose([hygiene(rid, 0.9, NextStep="Call"), hygiene(rid, 0.5, CloseDate="2027-02-01"),
                                        hygiene(rid, 0.9, ForecastCategoryName="Commit")])
    sandbox.edit_next = True
    [conflict] = gate.propose(hygiene(rid, 0.9, NextStep="Send proposal"))
    [shadow] = gate.propose({"object": "Lead", "op": "update", "record_id": a.record_id,
                             "actor": "ai:lead-scorer-2", "fields": {"Rating": "Hot"}})
    sandbox.inject_fault("create_many", code="UNABLE_TO_LOCK_ROW")
    [failed] = gate.propose(lead("D"))
    statuses = [o.status for o in (a, b, blank, opp, step, low, forecast, conflict, shadow, failed)]
    assert statuses == ["applied", "applied", "rejected", "applied", "applied", "queued", "queued",
                        "conflict", "shadowed", "failed"]
    approve(store, low, by="ana", edits={"CloseDate": {"proposed": "2027-02-01", "approved": "2027-03-01"}})
    store.append([NewEntry(kind="approval.rejected", actor="ben", proposal_id=forecast.proposal_id,
                           change_id=forecast.change_id, use_case=forecast.use_case, object="Opportunity",
                           record_id=rid, op="update", data={"by": "ben", "reason": "not yet"})])
    assert gate.rollback(b.change_id, by="admin:ana").status == "reverted"
    record_feedback(store, a.change_id, correct=True, by="ana")
    record_feedback(store, step.change_id, correct=True, by="ana")
    record_feedback(store, step.change_id, correct=False, by="ana", note="the rep disagreed")  # latest counts
    return locals()


def test_report_matches_the_trail(run, store):
    """Every counter and rate matches the mixed run, per use case, actor and field."""
    report = governance_report(store).to_dict()
    lead_intake = report["by_actor"]["ai:lead-intake-1"]
    assert {k: lead_intake[k] for k in ("proposals", "applied", "rejected_by_rule", "failures", "write_attempts",
                                        "written", "rolled_back", "feedback_correct")} == {
        "proposals": 4, "applied": 2, "rejected_by_rule": 1, "failures": 1, "write_attempts": 3, "written": 2,
        "rolled_back": 1, "feedback_correct": 1}
    assert lead_intake["rates"] == {"acceptance": round(2 / 3, 4), "override": None, "rollback": 0.5,
                                    "exception": round(1 / 3, 4), "feedback_accuracy": 1.0, "would_apply": None}
    hyg = report["by_use_case"]["deal_hygiene"]
    assert {k: hyg[k] for k in ("proposals", "applied", "queued", "approved", "approved_with_edits",
                                "rejected_by_person", "conflicts", "written", "feedback_incorrect")} == {
        "proposals": 4, "applied": 1, "queued": 2, "approved": 1, "approved_with_edits": 1,
        "rejected_by_person": 1, "conflicts": 1, "written": 2, "feedback_incorrect": 1}
    assert hyg["rates"]["acceptance"] == round(2 / 3, 4) and hyg["rates"]["override"] == 1.0
    assert hyg["rates"]["exception"] == round(1 / 3, 4) and hyg["rates"]["feedback_accuracy"] == 0.0
    assert report["shadow"] == {"lead_scoring": {"shadowed": 1, "would_apply": 1, "would_queue": 0,
                                                 "would_reject": 0, "would_apply_rate": 1.0}}
    fields = report["by_field"]
    assert fields["Opportunity.CloseDate"]["approved_with_edits"] == 1
    assert fields["Opportunity.ForecastCategoryName"]["rejected_by_person"] == 1
    assert fields["Opportunity.NextStep"]["conflicts"] == 1 and fields["Lead.Rating"]["shadowed"] == 1
    assert report["totals"]["proposals"] == 10


def test_report_since_attributes_earlier_changes(run, store, clock):
    """With --since after the proposals, a later rollback still counts against the AI actor that
    made the change (looked up in the trail), not against the admin who rolled it back."""
    clock.advance(3600)
    since = "2026-11-22T09:30:00.000000Z"
    gate = run["gate"]
    assert gate.rollback(run["a"].change_id, by="admin:ana").status == "reverted"
    report = governance_report(store, since=since).to_dict()
    assert report["totals"]["proposals"] == 0 and report["totals"]["rolled_back"] == 1
    assert report["by_actor"]["ai:lead-intake-1"]["rolled_back"] == 1 and "admin:ana" not in report["by_actor"]


def test_table_is_rendered(run, store):
    """The human table names every use case and shows rates as percentages."""
    text = render_table(governance_report(store))
    assert "deal_hygiene" in text and "ai:lead-intake-1" in text and "67%" in text and "lead_scoring" in text


def test_rates_are_null_without_denominator():
    """A group with nothing decided has null rates, not zero."""
    assert set(rates(build_report([]).totals).values()) == {None}


def test_feedback_is_a_trail_entry(run, store):
    """Feedback appends feedback.recorded linked to the change, with the person and the note."""
    entry = store.entries_for(change_id=run["step"].change_id)[-1]
    assert entry.kind == "feedback.recorded" and entry.actor == "ana"
    assert entry.data == {"correct": False, "by": "ana", "note": "the rep disagreed"}
    assert entry.proposal_id == run["step"].proposal_id and entry.use_case == "deal_hygiene"


def test_feedback_for_an_unknown_change_is_refused(store):
    """Feedback on a change the trail does not hold is a user error and writes nothing."""
    with pytest.raises(FeedbackError) as info:
        record_feedback(store, "chg_nope", correct=True, by="ana")
    assert info.value.code == "unknown_change" and store.head()[0] == 0


def test_ai_actor_may_not_give_feedback(run, store):
    """An ai: actor grading changes is refused."""
    head = store.head()
    with pytest.raises(FeedbackError) as info:
        record_feedback(store, run["a"].change_id, correct=True, by="ai:judge")
    assert info.value.code == "feedback_refused" and store.head() == head
