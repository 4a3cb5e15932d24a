"""Batching, check-then-write, races, 207 partial failures and idempotent creates against the fake."""
from __future__ import annotations

import json
import math

import pytest

from crmgate.adapters.base import CreateRequest, UpdateRequest
from crmgate.adapters.errors import UnavailableError
from tests.hubspot.conftest import deal_update


def _seed_deals(fake, n: int) -> list[str]:
    return [fake.seed("deals", {"dealname": f"Deal {i}", "dealstage": "qualifiedtobuy", "amount": "1000"})
            for i in range(n)]


@pytest.mark.parametrize("n", [1, 100, 101, 1000])
def test_n_updates_cost_one_read_and_one_update_per_hundred(n, fake, hs, hs_gate):
    """N governed updates with before-images cost exactly ceil(N/100) batch reads + ceil(N/100) batch updates."""
    ids = _seed_deals(fake, n)
    outcomes = hs_gate(hs).propose([deal_update(rid, description=f"checked {i}") for i, rid in enumerate(ids)])
    assert [o.status for o in outcomes] == ["applied"] * n
    batches = math.ceil(n / 100)
    assert fake.count("batch/read") == batches
    assert fake.count("batch/update") == batches
    assert len(fake.calls) == 2 * batches
    assert max(c.inputs for c in fake.calls) <= 100
    assert fake.record("deals", ids[-1])["description"] == f"checked {n - 1}"


def test_stale_version_is_a_conflict_and_the_rest_are_written(fake, make_hs, hs_clock):
    """A record moved since its version was read is a conflict, left alone; its batch-mates are written."""
    hs = make_hs()
    a, b = _seed_deals(fake, 2)
    before = hs.get_many("deals", [a, b])
    hs_clock.advance(60)  # an approval written later: the before-images are old, so they are re-read
    fake.edit("deals", a, {"description": "a person's note"})
    results = hs.update_many("deals", [UpdateRequest(a, {"description": "ai"}, before[a].version),
                                       UpdateRequest(b, {"description": "ai"}, before[b].version)])
    assert [r.status for r in results] == ["conflict", "ok"]
    assert results[0].error.code == "PRECONDITION_FAILED"
    assert results[0].error.details["current_version"] != before[a].version
    assert fake.record("deals", a)["description"] == "a person's note"
    assert fake.record("deals", b)["description"] == "ai"
    assert [c.path.rsplit("/", 1)[1] for c in fake.calls] == ["read", "read", "update"]


def test_race_between_before_image_and_recheck_is_prevented(fake, make_hs, hs_gate):
    """recheck_after=0: a person's edit after the before-image is caught by the re-read: conflict, not written."""
    [rid] = _seed_deals(fake, 1)

    def edit_after_first_read(f):
        f.before_next("batch/read", lambda f2: f2.edit("deals", rid, {"description": "person"}))
    fake.before_next("batch/read", edit_after_first_read)
    [outcome] = hs_gate(make_hs(recheck_after=0)).propose(deal_update(rid, description="ai"))
    assert outcome.status == "conflict"
    assert fake.record("deals", rid)["description"] == "person"
    assert fake.count("batch/update") == 0


def test_race_between_check_and_write_is_flagged_in_the_trail(fake, make_hs, hs_gate):
    """verify=history: an edit landing just before our batch update is detected and recorded in write.result."""
    [rid] = _seed_deals(fake, 1)
    fake.before_next("batch/update", lambda f: f.edit("deals", rid, {"description": "person", "amount": "5"}))
    gate = hs_gate(make_hs(verify="history"))
    [outcome] = gate.propose(deal_update(rid, description="ai"))
    assert outcome.status == "applied"
    [result] = [e for e in gate.store.entries_for(change_id=outcome.change_id) if e.kind == "write.result"]
    verify = result.data["info"]["verify"]
    assert verify["race_detected"] is True
    overwritten = {r["property"]: r for r in verify["race"] if r.get("overwritten")}
    assert overwritten["description"]["value"] == "person"
    assert overwritten["description"]["source"] == "CRM_UI"
    assert fake.count("batch/read") == 2  # the before-image and the history read


def test_no_race_means_no_flag(fake, make_hs):
    """verify=history on an undisturbed write reports no race (the check is not a constant)."""
    hs = make_hs(verify="history")
    [rid] = _seed_deals(fake, 1)
    rec = hs.get_many("deals", [rid])[rid]
    [res] = hs.update_many("deals", [UpdateRequest(rid, {"description": "ai"}, rec.version)])
    assert res.info["verify"]["race_detected"] is False and "race" not in res.info["verify"]


def test_207_partial_update_maps_each_error_to_its_record(fake, hs):
    """One bad value in a batch update fails that record only, with HubSpot's category kept."""
    a, b, c = _seed_deals(fake, 3)
    results = hs.update_many("deals", [UpdateRequest(a, {"amount": 5}), UpdateRequest(b, {"amount": "lots"}),
                                       UpdateRequest("999999", {"amount": 7}), UpdateRequest(c, {"amount": 9})])
    assert [(r.status, r.id) for r in results] == [("ok", a), ("failed", b), ("failed", "999999"), ("ok", c)]
    assert (results[1].error.code, results[1].error.fields) == ("VALIDATION_ERROR", ("amount",))
    assert results[2].error.code == "OBJECT_NOT_FOUND" and results[2].error.status == 404
    assert [fake.record("deals", x)["amount"] for x in (a, b, c)] == ["5", "1000", "9"]
    assert fake.calls[-1].status == 207


def test_207_partial_create_maps_errors_by_trace_id(fake, hs):
    """A batch create with bad inputs in the middle creates the good ones and fails the bad ones in place."""
    results = hs.create_many("contacts", [
        CreateRequest({"email": "a@example.com"}), CreateRequest({"email": "not-an-email"}),
        CreateRequest({"email": "b@example.com", "shoe_size": "44"}), CreateRequest({"email": "c@example.com"})])
    assert [r.status for r in results] == ["ok", "failed", "failed", "ok"]
    assert "email" in results[1].error.fields and "shoe_size" in results[2].error.fields
    assert results[0].record.fields["email"] == "a@example.com"
    assert results[3].record.fields["email"] == "c@example.com"


def test_later_chunk_failing_keeps_the_earlier_chunk_results(fake, make_hs):
    """When the second batch fails as a whole after retries, the first batch's results stand.

    One call at a time, so the fault's ``after=1`` lands on the second batch: with calls in flight
    either batch may reach the fake first (that case is
    ``test_one_failed_chunk_among_calls_in_flight_fails_only_its_records``)."""
    hs = make_hs(max_inflight=1)
    ids = _seed_deals(fake, 150)
    fake.inject(500, match="batch/update", times=5, after=1)
    results = hs.update_many("deals", [UpdateRequest(rid, {"description": "x"}) for rid in ids])
    assert [r.status for r in results] == ["ok"] * 100 + ["failed"] * 50
    assert results[120].error.code == "INTERNAL_ERROR" and results[120].error.retryable


@pytest.mark.parametrize("lost", ["502", "drop"])
def test_retried_create_never_makes_a_second_record(fake, make_hs, lost):
    """A create whose answer is lost after HubSpot applied it is retried and returns the one record."""
    hs = make_hs()
    fake.inject(502, match="batch/create", after_apply=True, drop=lost == "drop")
    [res] = hs.create_many("deals", [CreateRequest({"dealname": "Once", "dealstage": "qualifiedtobuy"},
                                                   idempotency_key="chg_1")])
    assert res.status == "ok" and res.info == {"idempotent_replay": True}
    assert fake.count("batch/create") == 2
    deals = [r for r in fake._recs["deals"].values() if r.props.get("dealname") == "Once"]
    assert [d.id for d in deals] == [res.id]


def test_replayed_key_leaves_later_edits_alone(fake, hs):
    """Re-sending a create key returns the existing record without overwriting a person's edit since."""
    [first] = hs.create_many("deals", [CreateRequest({"dealname": "Once"}, idempotency_key="k")])
    fake.edit("deals", first.id, {"dealname": "Renamed by a person"})
    [again] = hs.create_many("deals", [CreateRequest({"dealname": "Once"}, idempotency_key="k")])
    assert (again.status, again.id, again.info) == ("ok", first.id, {"idempotent_replay": True})
    assert fake.record("deals", first.id)["dealname"] == "Renamed by a person"


def test_without_key_property_contacts_are_protected_by_email(fake, make_hs):
    """idempotency_property=None: a second create of one email is refused (409 kept), never duplicated."""
    hs = make_hs(idempotency_property=None)
    [a] = hs.create_many("contacts", [CreateRequest({"email": "x@example.com"}, idempotency_key="k1")])
    [b] = hs.create_many("contacts", [CreateRequest({"email": "X@example.com"}, idempotency_key="k1")])
    assert a.status == "ok" and b.status == "failed"
    assert (b.error.code, b.error.status) == ("OBJECT_ALREADY_EXISTS", 409)
    assert f"Existing ID: {a.id}" in b.error.message
    assert len(fake._recs["contacts"]) == 1


def test_whole_call_failure_on_the_only_chunk_raises(fake, hs):
    """A batch that fails as a whole (after retries) raises the translated error: nothing was written."""
    [rid] = _seed_deals(fake, 1)
    fake.inject(503, match="batch/update", times=5)
    with pytest.raises(UnavailableError) as info:
        hs.update_many("deals", [UpdateRequest(rid, {"description": "x"})])
    assert info.value.code == "INTERNAL_ERROR"
    assert info.value.details["correlationId"].startswith("corr-")


def test_fake_enforces_batch_limits(fake):
    """The fake refuses 101 inputs, and 51 when property history is asked for, as HubSpot does."""
    auth = {"authorization": "Bearer pat-test-token"}

    def read(n: int, history: list[str]) -> int:
        body = {"inputs": [{"id": str(i)} for i in range(n)], "properties": [], "propertiesWithHistory": history}
        return fake.handle("POST", "/crm/v3/objects/deals/batch/read", auth, json.dumps(body).encode())[0]

    assert (read(100, []), read(101, []), read(50, ["amount"]), read(51, ["amount"])) == (207, 400, 207, 400)


def test_history_verification_reads_fifty_per_call(fake, make_hs):
    """verify=history costs one extra read per 50 written records, on top of the update calls."""
    hs = make_hs(verify="history")
    ids = _seed_deals(fake, 120)
    results = hs.update_many("deals", [UpdateRequest(rid, {"description": "x"}) for rid in ids])
    assert all(r.ok for r in results)
    assert [c.inputs for c in fake.calls if c.path.endswith("batch/read")] == [50, 50, 20]
