"""Per-record conflicts inside one Collections answer: every record gets its own result.

The fake answers the Collections call with per-item ``success: false`` entries (``statusCode``
``PRECONDITION_FAILED`` or another code) for chosen records, as Salesforce does for the items of a
batch it refuses; the others are written. Each record's result, and its trail entry through the
Gate, is checked on its own.
"""
from __future__ import annotations

from crmgate.adapters.base import UpdateRequest
from tests.salesforce.conftest import lead_update, seed_leads, trail


def test_each_item_of_a_collections_answer_is_its_own_result(fake, adapter):
    """Items 2 and 4 PRECONDITION_FAILED, item 3 ENTITY_IS_DELETED: conflict, failed, conflict in
    place; items 1 and 5 written. Nothing is shifted to a neighbour."""
    ids = seed_leads(fake, 5)
    before = adapter.get_many("Lead", ids)
    fake.fail("collections.update", records={ids[1]: "PRECONDITION_FAILED", ids[2]: "ENTITY_IS_DELETED",
                                             ids[3]: "PRECONDITION_FAILED"})
    results = adapter.update_many("Lead", [UpdateRequest(i, {"Title": f"T{k}"}, before[i].version)
                                           for k, i in enumerate(ids)])
    got = [(r.status, r.id, r.error and r.error.code, r.error and r.error.status) for r in results]
    assert got == [("ok", ids[0], None, None),
                   ("conflict", ids[1], "PRECONDITION_FAILED", 412),
                   ("failed", ids[2], "ENTITY_IS_DELETED", 404),
                   ("conflict", ids[3], "PRECONDITION_FAILED", 412),
                   ("ok", ids[4], None, None)]
    assert [fake.record(i).get("Title") for i in ids] == ["T0", None, None, None, "T4"]
    assert not any(r.error.retryable for r in results if r.error)  # a conflict is never retried
    assert fake.kinds().count("collections.update") == 1


def test_index_keyed_item_failure_lands_on_that_index(fake, adapter):
    """A failure addressed by position (``#2``) is reported for the third request, not another."""
    ids = seed_leads(fake, 3)
    fake.fail("collections.update", records={"#2": "PRECONDITION_FAILED"})
    results = adapter.update_many("Lead", [UpdateRequest(i, {"Title": "x"}) for i in ids])
    assert [(r.status, r.id) for r in results] == [("ok", ids[0]), ("ok", ids[1]), ("conflict", ids[2])]


def test_per_record_conflicts_through_the_gate_reach_each_records_trail(fake, adapter, make_gate):
    """Four governed updates in one batch, two refused per item: each proposal's outcome and its own
    write.result entry say conflict (with the CRM's code) or applied; the CRM holds only the applied."""
    ids = seed_leads(fake, 4)
    fake.fail("collections.update", records={ids[0]: "PRECONDITION_FAILED", ids[2]: "PRECONDITION_FAILED"})
    gate = make_gate(adapter)
    outcomes = gate.propose([lead_update(i, NumberOfEmployees=50 + k) for k, i in enumerate(ids)])
    assert [(o.status, o.record_id) for o in outcomes] == [
        ("conflict", ids[0]), ("applied", ids[1]), ("conflict", ids[2]), ("applied", ids[3])]
    results = {e.change_id: e.data for e in trail(gate, "write.result")}
    assert [(results[o.change_id]["status"], results[o.change_id]["record_id"],
             (results[o.change_id]["error"] or {}).get("code")) for o in outcomes] == [
        ("conflict", ids[0], "PRECONDITION_FAILED"), ("ok", ids[1], None),
        ("conflict", ids[2], "PRECONDITION_FAILED"), ("ok", ids[3], None)]
    assert [fake.record(i)["NumberOfEmployees"] for i in ids] == [1, 51, 1, 53]
    assert len(trail(gate, "write.intent")) == 4  # every attempt had its intent before the call
