"""Rollback selection edge cases found by mutation testing: what counts as already undone.

A rollback the CRM refused did not undo anything, so the change can still be rolled back; an
attempt to undo a rollback that the CRM refused leaves that rollback standing. A window whose
start is its end selects nothing and is refused. A change loaded by id says whether it is a
governed write or a rollback. The changes a bulk rollback cannot judge (no result, an unknown
one, a re-driven write) follow the selector and its window; earlier rollbacks count only for
the changes asked about.
"""
from __future__ import annotations

import dataclasses

import pytest

from crmgate.errors import RollbackError
from crmgate.rollback.selection import Selector, done_fields, select_changes, unjudged
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


# -- unjudged: which selected changes a rollback cannot judge ---------------------------------------

def _intent(cid: str, *, actor: str = "ai:a", use_case: str = "u", batch: str = "bat_1") -> NewEntry:
    return NewEntry("write.intent", change_id=cid, actor=actor, use_case=use_case, batch_id=batch,
                    object="Opportunity", record_id="006x", op="update", data={"changes": []})


def _result(cid: str, status: str, kind: str = "write.result") -> NewEntry:
    return NewEntry(kind, change_id=cid, object="Opportunity", record_id="006x", op="update",
                    data={"status": status})


def test_unjudged_takes_only_what_the_selector_names(gate):
    """Open intents of other actors, use cases and batches are not the selection's: each selector
    lists only its own unanswered changes."""
    gate.store.append([_intent("c_a", actor="ai:a", use_case="u", batch="bat_1"),
                       _intent("c_b", actor="ai:b", use_case="v", batch="bat_2"),
                       _intent("c_c", actor="ai:c", use_case="w", batch="bat_3")])
    assert unjudged(gate.store, Selector(actor="ai:b").checked()) == ["c_b"]
    assert unjudged(gate.store, Selector(use_case="w").checked()) == ["c_c"]
    assert unjudged(gate.store, Selector(batch="bat_1").checked()) == ["c_a"]


def test_unjudged_window_includes_since_and_excludes_until(gate, clock):
    """The window is judged on the intent's time: an intent at --since counts, one at --until does not."""
    for cid in ("c_0", "c_1", "c_2"):
        gate.store.append([_intent(cid)])
        clock.advance(60)
    sel = Selector(actor="ai:a", since="2026-11-22T09:01:00Z", until="2026-11-22T09:02:00Z").checked()
    assert unjudged(gate.store, sel) == ["c_1"]
    assert unjudged(gate.store, Selector(actor="ai:a", since="2026-11-22T09:01:00Z").checked()) == ["c_1", "c_2"]
    assert unjudged(gate.store, Selector(actor="ai:a", until="2026-11-22T09:01:00Z").checked()) == ["c_0"]


def test_unjudged_is_what_has_no_known_effect_oldest_first(gate):
    """Listed: no result, an unknown result, a result older than a re-driven intent; not listed: a
    result ok or failed, an unknown one later reconciled. Oldest intent first."""
    gate.store.append([_intent("c_open"), _intent("c_ok"), _intent("c_failed"), _intent("c_unknown"),
                       _intent("c_settled"), _intent("c_redriven")])
    gate.store.append([_result("c_ok", "ok"), _result("c_failed", "failed"), _result("c_unknown", "unknown"),
                       _result("c_settled", "unknown"), _result("c_redriven", "ok")])
    gate.store.append([_result("c_settled", "ok", kind="write.reconciled"), _intent("c_redriven")])
    assert unjudged(gate.store, Selector(actor="ai:a").checked()) == ["c_open", "c_unknown", "c_redriven"]


def test_a_change_named_by_id_is_never_unjudged(gate):
    """--change is judged by load_change itself (which refuses an open change): unjudged lists nothing."""
    gate.store.append([_intent("c_open")])
    assert unjudged(gate.store, Selector(change="c_open").checked()) == []


def test_a_result_without_a_record_id_falls_back_to_the_intents(gate):
    """An ok result that does not name its record (a trail written before results carried it) is
    undone on the record its intent named, never on an empty id."""
    gate.store.append([_intent("c_old"), _result("c_old", "ok")])
    [change] = select_changes(gate.store, Selector(change="c_old"))
    assert change.record_id == "006x"


def test_done_fields_answer_only_for_the_changes_asked_about(gate):
    """Two changes of one proposal, the second already rolled back: asked about the first, nothing is
    done; asked about the second, its restored field is, and the field the rollback left as a
    conflict is not."""
    ok = {"status": "ok", "record_id": "006x"}
    gate.store.append([
        NewEntry("write.intent", proposal_id="p_1", change_id="c_a", object="Opportunity", record_id="006x",
                 op="update", data={"changes": []}),
        NewEntry("write.result", proposal_id="p_1", change_id="c_a", object="Opportunity", record_id="006x",
                 op="update", data=ok),
        NewEntry("write.intent", proposal_id="p_1", change_id="c_b", object="Opportunity", record_id="006x",
                 op="update", data={"changes": []}),
        NewEntry("write.result", proposal_id="p_1", change_id="c_b", object="Opportunity", record_id="006x",
                 op="update", data=ok)])
    gate.store.append([
        NewEntry("rollback.intent", proposal_id="p_1", change_id="rb_b", object="Opportunity", record_id="006x",
                 op="update", data={"reverts": "c_b", "plan": [{"field": "NextStep", "action": "restore"},
                                                               {"field": "Amount", "action": "conflict"}]}),
        NewEntry("rollback.result", proposal_id="p_1", change_id="rb_b", object="Opportunity", record_id="006x",
                 op="update", data={"reverts": "c_b", **ok})])
    [a] = select_changes(gate.store, Selector(change="c_a"))
    [b] = select_changes(gate.store, Selector(change="c_b"))
    assert done_fields(gate.store, [a]) == {}
    assert done_fields(gate.store, [b]) == {"c_b": {"NextStep"}}
