"""Salesforce rollback race: a person's edit between the rollback's read and its write is kept."""
from __future__ import annotations

from tests.salesforce.conftest import lead_update, seed_leads


def test_an_edit_between_the_rollback_read_and_write_is_a_conflict(fake, adapter, make_gate, clock):
    """Three updates rolled back at once; a person edits one record right after the rollback's
    retrieve. The conditional PATCH (If-Unmodified-Since) refuses that one: conflict, the person's
    value stays; the two others are reverted. Cost: 1 retrieve + 1 PATCH per record."""
    ids = seed_leads(fake, 3)
    gate = make_gate(adapter)
    outs = gate.propose([lead_update(i, Rating="Hot") for i in ids])
    assert [o.status for o in outs] == ["applied"] * 3
    clock.advance(5)  # the rollback comes later; the person edits within its read-write window
    fake.calls.clear()
    fake.after_call("retrieve", lambda: fake.edit("Lead", ids[1], {"Rating": "Cold"}))
    report = gate.rollback_many(batch=outs[0].batch_id)
    by_id = {r.record_id: r.status for r in report.changes}
    assert by_id == {ids[0]: "reverted", ids[1]: "conflict", ids[2]: "reverted"}
    assert fake.record(ids[1])["Rating"] == "Cold"
    assert "Rating" not in fake.record(ids[0])
    assert fake.kinds() == ["retrieve", "row.update", "row.update", "row.update"]
