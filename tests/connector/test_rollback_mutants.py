"""Rollback selection edge cases found by mutation testing: what counts as already undone.

A rollback the CRM refused did not undo anything, so the change can still be rolled back; an
attempt to undo a rollback that the CRM refused leaves that rollback standing. A window whose
start is its end selects nothing and is refused. A change loaded by id says whether it is a
governed write or a rollback.
"""
from __future__ import annotations

import dataclasses

import pytest

from crmgate.errors import RollbackError
from crmgate.rollback.selection import Selector, select_changes
from crmgate.trail import NewEntry
from tests.connector.conftest import hygiene, opp


def fields(sandbox, rid):
    return sandbox.get_many("Opportunity", [rid])[rid].fields


@pytest.fixture
def deal(gate):
    return gate.propose(opp())[0].record_id


def test_a_refused_rollback_is_not_done_and_can_run_again(gate, sandbox, deal):
    """The CRM refuses the first rollback (failed): the value stays; a second rollback reverts it."""
    ch = gate.propose(hygiene(deal, CloseDate="2027-03-31"))[0]
    sandbox.inject_fault("update_many", code="FIELD_CUSTOM_VALIDATION_EXCEPTION", record_id=deal, status=400)
    first = gate.rollback(ch.change_id)
    assert first.status == "failed" and fields(sandbox, deal)["CloseDate"] == "2027-03-31"
    again = gate.rollback(ch.change_id)
    assert again.status == "reverted" and fields(sandbox, deal)["CloseDate"] == "2027-01-29"


def test_a_refused_undo_of_a_rollback_leaves_the_rollback_standing(gate, sandbox, deal):
    """Undoing a rollback fails at the CRM: the rollback still counts, so rolling the change back
    again (after a person set another date) is a no-op, not a conflict over the person's value."""
    ch = gate.propose(hygiene(deal, CloseDate="2027-03-31"))[0]
    rb = gate.rollback(ch.change_id)
    sandbox.inject_fault("update_many", code="FIELD_CUSTOM_VALIDATION_EXCEPTION", record_id=deal, status=400)
    undo = gate.rollback(rb.rollback_change_id)
    assert undo.status == "failed" and fields(sandbox, deal)["CloseDate"] == "2027-01-29"
    sandbox.edit("Opportunity", deal, {"CloseDate": "2027-02-15"})
    assert gate.rollback(ch.change_id).status == "noop"
    assert fields(sandbox, deal)["CloseDate"] == "2027-02-15"


def test_a_window_that_starts_where_it_ends_is_refused():
    """--since equal to --until is an empty window: bad_selector, as when since is after until."""
    with pytest.raises(RollbackError) as exc:
        Selector(actor="ai:x", since="2026-11-22T09:00:00Z", until="2026-11-22T09:00:00Z").checked()
    assert exc.value.code == "bad_selector"


def test_a_change_loaded_by_id_says_what_it_is(gate, deal):
    """A governed change is kind 'write'; a rollback named by its id is kind 'rollback'."""
    ch = gate.propose(hygiene(deal, CloseDate="2027-03-31"))[0]
    rb = gate.rollback(ch.change_id)
    [write] = select_changes(gate.store, Selector(change=ch.change_id))
    [undo] = select_changes(gate.store, Selector(change=rb.rollback_change_id))
    assert (write.kind, undo.kind) == ("write", "rollback")


def test_a_rollback_after_an_undone_rollback_counts(gate, sandbox, deal):
    """Rolled back, that rollback undone, rolled back again: the second rollback is what counts, so a
    third attempt (after a person's edit) is a no-op that keeps the person's value."""
    ch = gate.propose(hygiene(deal, CloseDate="2027-03-31"))[0]
    first = gate.rollback(ch.change_id)
    assert gate.rollback(first.rollback_change_id).status == "reverted"
    assert gate.rollback(ch.change_id).status == "reverted"
    sandbox.edit("Opportunity", deal, {"CloseDate": "2027-02-15"})
    assert gate.rollback(ch.change_id).status == "noop"
    assert fields(sandbox, deal)["CloseDate"] == "2027-02-15"


def test_a_change_never_written_names_its_status(gate, deal):
    """A queued change cannot be rolled back: not_applied, and the message says it is queued."""
    queued = gate.propose(hygiene(deal, ForecastCategoryName="Commit"))[0]
    assert queued.status == "queued"
    with pytest.raises(RollbackError) as exc:
        gate.rollback(queued.change_id)
    assert exc.value.code == "not_applied" and "(status: queued)" in exc.value.message


def test_two_selectors_are_named_in_the_refusal():
    """Two selectors at once: bad_selector, and the message lists what was given."""
    with pytest.raises(RollbackError) as exc:
        Selector(actor="ai:x", batch="b_1").checked()
    assert exc.value.code == "bad_selector" and exc.value.message.endswith("(got batch, actor)")


def test_selectors_are_frozen():
    """A checked selector cannot be changed afterwards (it is what the trail records)."""
    sel = Selector(actor="ai:x").checked()
    with pytest.raises(dataclasses.FrozenInstanceError):
        sel.actor = "ai:y"  # type: ignore[misc]


def test_bulk_selection_takes_only_applied_writes(gate, sandbox):
    """One of two updates fails at the CRM: a bulk rollback by actor selects the applied one only."""
    a, b = [o.record_id for o in gate.propose([opp(Name="A"), opp(Name="B")])]
    sandbox.inject_fault("update_many", code="FIELD_CUSTOM_VALIDATION_EXCEPTION", record_id=b, status=400)
    done, failed = gate.propose([hygiene(a, NextStep="AI"), hygiene(b, NextStep="AI")])
    assert (done.status, failed.status) == ("applied", "failed")
    report = gate.rollback_many(actor="ai:deal-hygiene")
    assert [r.change_id for r in report.changes] == [done.change_id]


def test_an_intent_without_a_result_is_unresolved(gate, deal):
    """A write whose result was never recorded (the process died after the intent): rollback refuses
    with unresolved_change, and so it does when a newer intent follows the last result."""
    gate.store.append([NewEntry("write.intent", change_id="chg_lost", object="Opportunity", record_id=deal,
                                op="update", data={"changes": []})])
    with pytest.raises(RollbackError) as exc:
        gate.rollback("chg_lost")
    assert exc.value.code == "unresolved_change"
    ch = gate.propose(hygiene(deal, CloseDate="2027-03-31"))[0]
    gate.store.append([NewEntry("write.intent", change_id=ch.change_id, object="Opportunity", record_id=deal,
                                op="update", data={"changes": []})])
    with pytest.raises(RollbackError) as exc:
        gate.rollback(ch.change_id)
    assert exc.value.code == "unresolved_change"
