"""The rollback planner's words and edge cases, on plain values (found by mutation testing).

``plan_record`` is pure: changes (oldest first) and the record as it is now in, a plan out. What
an admin reads (the plan's message and each field's reason) is pinned here, with the cases a
rollback report must get right: a forced field that nobody touched, a run of changes restored to
the value before its first change, a deleted record that exists again.
"""
from __future__ import annotations

import dataclasses

import pytest

from crmgate.adapters.base import Record
from crmgate.rollback.plan import ALL, Change, plan_record


def change(cid: str, op: str, seq: int, **fields: tuple[object, object]) -> Change:
    return Change(change_id=cid, proposal_id="p", kind="write", object="Opportunity", op=op, record_id="006A",
                  actor="ai:x", use_case="u", seq=seq,
                  changes=tuple({"field": f, "before": b, "after": a} for f, (b, a) in fields.items()))


def now(**fields: object) -> Record:
    return Record("Opportunity", "006A", fields, "v9")


def reasons(plan, cid: str) -> list[tuple[str, str, str]]:
    return [(p.field, p.action, p.reason) for p in plan.fields[cid]]


def test_every_field_changed_since_is_a_conflict_message():
    """Both fields edited by a person since: nothing to write, the message says every field conflicts."""
    plan = plan_record([change("c1", "update", 1, A=("a0", "a1"), B=("b0", "b1"))], now(A="p", B="q"),
                       force=False, done={})
    assert plan.write_op is None and plan.message == "conflict: every field changed since"


def test_nothing_to_undo_when_the_values_already_hold():
    """The record already holds the before-values: nothing to write, 'nothing to undo'."""
    plan = plan_record([change("c1", "update", 1, A=("a0", "a1"))], now(A="a0"), force=False, done={})
    assert plan.write_op is None and plan.message == "nothing to undo"


def test_force_on_an_untouched_field_says_it_still_held_crmgates_value():
    """--force where nobody edited: action force, reason 'still holds the value crmgate wrote'."""
    plan = plan_record([change("c1", "update", 1, A=("a0", "a1"), B=("b0", "b1"))], now(A="a1", B="edited"),
                       force=True, done={})
    assert reasons(plan, "c1") == [("A", "force", "still holds the value crmgate wrote"),
                                   ("B", "force", "changed since crmgate wrote it; forced")]
    assert plan.payload == {"A": "a0", "B": "b0"}


def test_a_run_of_changes_restores_the_value_before_its_first_change():
    """Two changes in a row to one field: both revert to the first before-value, and the reason
    names the change whose before-value is restored; a single change gets no such note."""
    plan = plan_record([change("c1", "update", 1, A=("a0", "a1")), change("c2", "update", 2, A=("a1", "a2"),
                                                                             B=("b0", "b1"))],
                       now(A="a2", B="b1"), force=False, done={})
    assert reasons(plan, "c2") == [
        ("A", "revert", "still holds the value crmgate wrote (restores the value before c1)"),
        ("B", "revert", "still holds the value crmgate wrote")]
    assert plan.payload == {"A": "a0", "B": "b0"}


def test_a_deleted_record_that_exists_again_is_a_conflict_per_field():
    """The change deleted the record, but it exists again: every field is a conflict, nothing written."""
    plan = plan_record([change("c1", "delete", 1, A=("a0", None), B=("b0", None))], now(A="new", B="b0"),
                       force=False, done={})
    assert plan.write_op is None
    assert plan.message == "conflict: the deleted record exists again; not re-created"
    assert [(p.field, p.action, p.current) for p in plan.fields["c1"]] == [("A", "conflict", "new"),
                                                                          ("B", "conflict", "b0")]


def test_changes_and_field_plans_are_frozen():
    """A change read from the trail, and a field's plan once made, cannot be altered afterwards."""
    ch = change("c1", "update", 1, A=("a0", "a1"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ch.op = "delete"  # type: ignore[misc]
    [field_plan] = plan_record([ch], now(A="a1"), force=False, done={}).fields["c1"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        field_plan.action = "force"  # type: ignore[misc]


def test_a_created_record_that_is_gone_is_already_rolled_back():
    """The change created the record and it no longer exists: skip, 'already rolled back'."""
    plan = plan_record([change("c1", "create", 1, A=(None, "a1"))], None, force=False, done={})
    assert plan.write_op is None
    assert plan.message == "already rolled back: the created record no longer exists"
    assert [(p.field, p.action) for p in plan.fields["c1"]] == [("A", "skip")]


def test_an_updated_record_that_is_gone_is_a_conflict():
    """The change updated the record and it no longer exists: conflict, nothing written."""
    plan = plan_record([change("c1", "update", 1, A=("a0", "a1"))], None, force=False, done={})
    assert plan.write_op is None and plan.message == "conflict: the record no longer exists"
    assert [(p.field, p.action) for p in plan.fields["c1"]] == [("A", "conflict")]


def test_a_change_marked_wholly_undone_is_done_whatever_its_fields():
    """An earlier rollback undid the whole change (ALL): it is done, even though no field is listed."""
    plan = plan_record([change("c1", "update", 1, A=("a0", "a1"))], now(A="a1"), force=False,
                       done={"c1": {ALL}})
    assert plan.done == {"c1"} and plan.write_op is None and plan.message == "already rolled back"


def test_created_and_deleted_within_the_rollback_restores_nothing():
    """Created then deleted by the selection, and gone now: every field skipped, nothing re-created."""
    plan = plan_record([change("c1", "create", 1, A=(None, "a1")), change("c2", "delete", 2, A=("a1", None))],
                       None, force=False, done={})
    assert plan.write_op is None
    assert plan.message == "created and deleted within this rollback: nothing to restore"
    assert [(p.field, p.action) for p in plan.fields["c1"] + plan.fields["c2"]] == [("A", "skip"), ("A", "skip")]


def test_a_partial_plan_names_the_conflicts_it_leaves():
    """A reverts, B was edited since: the message says the before-values are written and B is left."""
    plan = plan_record([change("c1", "update", 1, A=("a0", "a1"), B=("b0", "b1"))], now(A="a1", B="edited"),
                       force=False, done={})
    assert plan.write_op == "update" and plan.payload == {"A": "a0"}
    assert plan.message == "before-values written back; conflicts left alone: B"


def test_a_deleted_record_is_recreated_from_its_before_image():
    """The change deleted the record and it is still gone: every field reverts, non-empty values
    go into the create."""
    plan = plan_record([change("c1", "delete", 1, A=("a0", None), B=("", None))], None, force=False, done={})
    assert plan.write_op == "create" and plan.payload == {"A": "a0"}
    assert [(p.field, p.action, p.before, p.reason) for p in plan.fields["c1"]] == [
        ("A", "revert", "a0", "re-create from before-image"), ("B", "revert", "", "re-create from before-image")]
