"""Conflict-aware rollback of one change."""
from __future__ import annotations

import pytest

from crmgate.errors import RollbackError
from crmgate.project.scaffold import example_rulebook
from crmgate.rules.loader import parse_rulebook
from tests.connector.conftest import hygiene, opp


def fields(sandbox, rid):
    return sandbox.get_many("Opportunity", [rid])[rid].fields


@pytest.fixture
def deal(gate):
    return gate.propose(opp())[0].record_id


def test_rollback_restores_before_value_and_is_linked(gate, sandbox, deal):
    """Rolling back an applied update restores the before-value, and the rollback's own trail
    entries point at the change they revert."""
    ch = gate.propose(hygiene(deal, CloseDate="2027-03-31"))[0]
    report = gate.rollback(ch.change_id, by="admin:ana")
    assert report.status == "reverted"
    assert fields(sandbox, deal)["CloseDate"] == "2027-01-29"
    intent, result = gate.store.entries_for(change_id=report.rollback_change_id)
    assert (intent.kind, result.kind) == ("rollback.intent", "rollback.result")
    assert intent.data["reverts"] == ch.change_id and intent.actor == "admin:ana"
    assert intent.proposal_id == ch.proposal_id and result.data["status"] == "ok"


def test_person_edit_is_a_conflict_and_kept(gate, sandbox, deal):
    """After a person edits the field, rollback reports a conflict and keeps the person's value."""
    ch = gate.propose(hygiene(deal, NextStep="AI plan"))[0]
    sandbox.edit("Opportunity", deal, {"NextStep": "rep plan"})
    report = gate.rollback(ch.change_id)
    assert report.status == "conflict" and [f.field for f in report.conflicts] == ["NextStep"]
    assert report.rollback_change_id is None
    assert fields(sandbox, deal)["NextStep"] == "rep plan"


def test_force_overrides_a_conflict_and_says_so(gate, sandbox, deal):
    """--force writes the before-value over a person's edit and the trail records it was forced."""
    ch = gate.propose(hygiene(deal, NextStep="AI plan"))[0]
    sandbox.edit("Opportunity", deal, {"NextStep": "rep plan"})
    report = gate.rollback(ch.change_id, force=True)
    assert report.status == "reverted" and report.fields[0].action == "force"
    assert fields(sandbox, deal).get("NextStep") in (None, "")
    intent = gate.store.entries_for(change_id=report.rollback_change_id)[0]
    assert intent.data["force"] is True and intent.data["plan"][0]["action"] == "force"


def test_partial_rollback_reverts_only_untouched_fields(gate, sandbox, deal):
    """With two fields changed and one edited since, only the other is reverted."""
    ch = gate.propose(hygiene(deal, NextStep="AI plan", CloseDate="2027-03-31"))[0]
    sandbox.edit("Opportunity", deal, {"NextStep": "rep plan"})
    report = gate.rollback(ch.change_id)
    assert report.status == "partial"
    assert fields(sandbox, deal)["CloseDate"] == "2027-01-29"
    assert fields(sandbox, deal)["NextStep"] == "rep plan"


def test_second_rollback_is_a_noop(gate, sandbox, deal):
    """Running the same rollback twice changes nothing the second time."""
    ch = gate.propose(hygiene(deal, CloseDate="2027-03-31"))[0]
    gate.rollback(ch.change_id)
    version = sandbox.get_many("Opportunity", [deal])[deal].version
    again = gate.rollback(ch.change_id)
    assert again.status == "noop" and again.rollback_change_id is None
    assert sandbox.get_many("Opportunity", [deal])[deal].version == version


def test_dry_run_writes_nothing(gate, sandbox, deal):
    """A dry run plans the rollback but neither writes the CRM nor the trail."""
    ch = gate.propose(hygiene(deal, CloseDate="2027-03-31"))[0]
    head = gate.store.head()
    report = gate.rollback(ch.change_id, dry_run=True)
    assert report.status == "planned" and report.fields[0].action == "revert"
    assert gate.store.head() == head and fields(sandbox, deal)["CloseDate"] == "2027-03-31"


def test_rollback_of_create_deletes_then_noops(gate, sandbox):
    """Rolling back a create deletes the record; a second time is a no-op."""
    ch = gate.propose(opp())[0]
    assert gate.rollback(ch.change_id).status == "reverted"
    assert sandbox.get_many("Opportunity", [ch.record_id]) == {}
    assert gate.rollback(ch.change_id).status == "noop"


def test_rollback_of_create_refuses_when_edited_since(gate, sandbox):
    """A created record a person edited since is not deleted by a rollback."""
    ch = gate.propose(opp())[0]
    sandbox.edit("Opportunity", ch.record_id, {"Name": "Renamed by rep"})
    assert gate.rollback(ch.change_id).status == "conflict"
    assert sandbox.get_many("Opportunity", [ch.record_id])


def test_rollback_of_delete_recreates_with_new_id(make_gate, sandbox):
    """Rolling back a delete re-creates the record from its before-image under a new id, once."""
    text = example_rulebook().replace("- {op: delete, tier: critical}", "- {op: delete, tier: low}")
    gate = make_gate(sandbox, rules=parse_rulebook(text))
    rid = gate.propose(opp(NextStep="Call the CFO"))[0].record_id
    gone = gate.propose({"object": "Opportunity", "op": "delete", "record_id": rid,
                         "actor": "ai:deal-hygiene", "confidence": 0.99})[0]
    assert gone.status == "applied" and sandbox.get_many("Opportunity", [rid]) == {}
    report = gate.rollback(gone.change_id)
    assert report.status == "reverted" and report.new_record_id not in (None, rid)
    assert fields(sandbox, report.new_record_id)["NextStep"] == "Call the CFO"
    assert gate.rollback(gone.change_id).status == "noop"


def test_rollback_refuses_what_was_never_applied(gate, deal):
    """Unknown, queued and conflicted changes cannot be rolled back, with a precise code."""
    with pytest.raises(RollbackError) as exc:
        gate.rollback("chg_nope")
    assert exc.value.code == "unknown_change"
    queued = gate.propose(hygiene(deal, ForecastCategoryName="Commit"))[0]
    with pytest.raises(RollbackError) as exc:
        gate.rollback(queued.change_id)
    assert exc.value.code == "not_applied"
