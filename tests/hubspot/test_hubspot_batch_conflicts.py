"""Per-record conflicts and 207 errors inside one batch, through the Gate: every record on its own.

HubSpot has no conditional write, so a record that moved is found by the adapter's re-read
(``conflict``), and a record that vanished between the check and the write comes back as one
``errors[]`` entry of a 207 multi-status answer (``failed``). The fake produces both; each
proposal's outcome and its own ``write.result`` entry are checked individually.
"""
from __future__ import annotations

from tests.hubspot.conftest import deal_update


def _seed(fake, n: int) -> list[str]:
    return [fake.seed("deals", {"dealname": f"Deal {i}", "dealstage": "qualifiedtobuy", "amount": "1000"})
            for i in range(n)]


def test_conflict_and_207_error_in_one_batch_are_reported_per_record(fake, make_hs, hs_gate):
    """a and d written; b edited by a person after its before-image (conflict, PRECONDITION_FAILED,
    not written); c deleted just before the batch update (207: failed, OBJECT_NOT_FOUND)."""
    a, b, c, d = _seed(fake, 4)
    fake.before_next("batch/read", lambda f: f.before_next(  # after the before-images, before the re-read
        "batch/read", lambda f2: f2.edit("deals", b, {"description": "a person's note"})))
    fake.before_next("batch/update", lambda f: f.archive("deals", c))
    gate = hs_gate(make_hs(recheck_after=0))
    outcomes = gate.propose([deal_update(rid, description=f"ai {k}") for k, rid in enumerate((a, b, c, d))])
    assert [(o.status, o.record_id) for o in outcomes] == [
        ("applied", a), ("conflict", b), ("failed", c), ("applied", d)]
    results = {e.change_id: e.data for e in gate.store.iter_entries() if e.kind == "write.result"}
    assert [(results[o.change_id]["status"], results[o.change_id]["record_id"],
             (results[o.change_id]["error"] or {}).get("code")) for o in outcomes] == [
        ("ok", a, None), ("conflict", b, "PRECONDITION_FAILED"), ("failed", c, "OBJECT_NOT_FOUND"), ("ok", d, None)]
    assert fake.calls[-1].status == 207
    assert fake.record("deals", a)["description"] == "ai 0" and fake.record("deals", d)["description"] == "ai 3"
    assert fake.record("deals", b)["description"] == "a person's note"
    assert fake.count("batch/update") == 1


def test_every_record_of_a_207_maps_to_its_own_input(fake, hs):
    """Two records gone and one good in the middle: the two errors land on those two ids, in place."""
    from crmgate.adapters.base import UpdateRequest

    a, b, c = _seed(fake, 3)
    fake.archive("deals", a)
    fake.archive("deals", c)
    results = hs.update_many("deals", [UpdateRequest(x, {"description": "ai"}) for x in (a, b, c)])
    assert [(r.status, r.id, r.error and r.error.code) for r in results] == [
        ("failed", a, "OBJECT_NOT_FOUND"), ("ok", b, None), ("failed", c, "OBJECT_NOT_FOUND")]
    assert fake.calls[-1].status == 207
