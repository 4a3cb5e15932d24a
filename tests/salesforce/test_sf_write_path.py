"""Call counts at the platform's limits, conflicts, the race, and partial failures through the Gate."""
from __future__ import annotations

import math
from datetime import timedelta

import pytest

from crmgate.adapters.base import DeleteRequest, UpdateRequest
from tests.salesforce.conftest import lead_update, seed_leads, trail


@pytest.mark.parametrize("n", [1, 200, 201, 1000])
def test_n_updates_cost_the_minimum_calls(n, fake, adapter, make_gate):
    """N updates with before-images cost ceil(N/2000) retrieves + ceil(N/200) Collections writes
    (one conditional row PATCH for N = 1), read from the fake's own call log."""
    ids = seed_leads(fake, n)
    adapter.read_fields("Lead")  # the describe is fetched once per object per adapter; not per run
    fake.calls.clear()
    outcomes = make_gate(adapter).propose([lead_update(i, NumberOfEmployees=100 + k) for k, i in enumerate(ids)])
    assert {o.status for o in outcomes} == {"applied"}
    writes = ["row.update"] if n == 1 else ["collections.update"] * math.ceil(n / 200)
    assert fake.kinds() == ["retrieve"] * math.ceil(n / 2000) + writes
    assert [c.records for c in fake.calls[1:]] == ([1] if n == 1 else
                                                   [min(200, n - s) for s in range(0, n, 200)])
    assert fake.record(ids[-1])["NumberOfEmployees"] == 100 + n - 1


def test_creates_and_deletes_cost_one_call_per_200(fake, adapter, make_gate):
    """201 creates are two upserts; 201 deletes after their read are one retrieve and two deletes."""
    adapter.read_fields("Lead")
    fake.calls.clear()
    outcomes = make_gate(adapter).propose([
        {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
         "fields": {"LastName": f"N{i}", "Company": "Initech"}} for i in range(201)])
    assert {o.status for o in outcomes} == {"applied"}
    assert fake.kinds() == ["collections.upsert"] * 2
    ids = [o.record_id for o in outcomes]
    fake.clock.advance(5)
    fake.calls.clear()
    before = adapter.get_many("Lead", ids)
    results = adapter.delete_many("Lead", [DeleteRequest(i, before[i].version) for i in ids])
    assert {r.status for r in results} == {"ok"}
    assert fake.kinds() == ["retrieve", "collections.delete", "collections.delete"]


def test_describe_is_fetched_once_per_object(fake, adapter):
    """Reading twice fetches the describe once and then only retrieves."""
    [rid] = seed_leads(fake, 1)
    adapter.get_many("Lead", [rid])
    adapter.get_many("Lead", [rid])
    assert fake.kinds() == ["describe", "retrieve", "retrieve"]


def test_a_412_is_a_conflict_and_never_retried(fake, adapter, sleeps):
    """A stale If-Unmodified-Since answer (412) becomes one conflict result after one call, no wait."""
    [rid] = seed_leads(fake, 1)
    record = adapter.get_many("Lead", [rid])[rid]
    fake.calls.clear()
    fake.fail("row.update", status=412, code="PRECONDITION_FAILED")
    [result] = adapter.update_many("Lead", [UpdateRequest(rid, {"Title": "CFO"}, record.version)])
    assert (result.status, result.id, result.error.code, result.error.status) == (
        "conflict", rid, "PRECONDITION_FAILED", 412)
    assert fake.kinds() == ["row.update"] and sleeps == []
    assert "Title" not in fake.record(rid)


def test_single_update_sends_if_unmodified_since_from_the_before_image(fake, adapter):
    """The row PATCH carries the before-image's SystemModstamp as an HTTP-date."""
    [rid] = seed_leads(fake, 1)
    record = adapter.get_many("Lead", [rid])[rid]
    adapter.update_many("Lead", [UpdateRequest(rid, {"Title": "CFO"}, record.version)])
    assert record.version == "2026-11-22T09:00:00.000+0000"
    assert fake.calls[-1].headers == {"If-Unmodified-Since": "Sun, 22 Nov 2026 09:00:00 GMT"}


def test_race_single_update_is_a_conflict_and_the_person_wins(fake, adapter, make_gate):
    """A person's edit between the before-image and the write: 412, nothing overwritten, trail says so."""
    [rid] = seed_leads(fake, 1)
    fake.after_call("retrieve", lambda: fake.edit("Lead", rid, {"NumberOfEmployees": 7}))
    gate = make_gate(adapter)
    [outcome] = gate.propose([lead_update(rid, NumberOfEmployees=250)])
    assert outcome.status == "conflict"
    assert fake.record(rid)["NumberOfEmployees"] == 7
    [result] = trail(gate, "write.result")
    assert (result.data["status"], result.data["record_id"], result.data["error"]["code"]) == (
        "conflict", rid, "PRECONDITION_FAILED")


def test_race_in_the_same_second_as_the_before_image_is_caught(fake, adapter, sleeps, make_gate):
    """If-Unmodified-Since has one-second resolution: a before-image stamped in the second it was
    read is re-checked after that second is over (one wait, one re-read) and the edit is a conflict."""
    rid = fake.seed("Lead", {"LastName": "Ng", "Company": "Initech"})  # stamped now: unsettled
    fake.after_call("retrieve", lambda: fake.edit("Lead", rid, {"NumberOfEmployees": 7}))
    [outcome] = make_gate(adapter).propose([lead_update(rid, NumberOfEmployees=250)])
    assert outcome.status == "conflict"
    assert fake.record(rid)["NumberOfEmployees"] == 7
    assert sleeps == [1.0]
    assert fake.kinds() == ["describe", "retrieve", "retrieve"]  # no write was sent


def test_same_second_without_an_edit_is_written_after_the_wait(fake, adapter, sleeps):
    """An unsettled before-image with no concurrent edit is written after the wait and re-read."""
    rid = fake.seed("Lead", {"LastName": "Ng", "Company": "Initech"})
    record = adapter.get_many("Lead", [rid])[rid]
    [result] = adapter.update_many("Lead", [UpdateRequest(rid, {"Title": "CFO"}, record.version)])
    assert result.status == "ok" and sleeps == [1.0]
    assert fake.kinds()[-2:] == ["retrieve", "row.update"]


def test_race_batch_with_reread_is_a_conflict_for_the_edited_record(fake, make_adapter, make_gate):
    """With batch_check: reread, a person's edit between before-image and Collections write is a
    conflict for that record alone; the others are written."""
    ids = seed_leads(fake, 3)
    fake.after_call("retrieve", lambda: fake.edit("Lead", ids[1], {"NumberOfEmployees": 7}))
    outcomes = make_gate(make_adapter(batch_check="reread")).propose(
        [lead_update(i, NumberOfEmployees=250) for i in ids])
    assert [o.status for o in outcomes] == ["applied", "conflict", "applied"]
    assert [fake.record(i)["NumberOfEmployees"] for i in ids] == [250, 7, 250]
    assert outcomes[1].error["code"] == "STALE_VERSION"


def test_race_batch_default_rechecks_a_before_image_older_than_max_check_age(fake, make_adapter, make_gate):
    """By default a before-image older than max_check_age (2 s) is re-read before the write."""
    ids = seed_leads(fake, 3)
    ticks = iter(range(1000))

    def slow_clock():  # the adapter's clock: each look is 3 s later (a slow decision and trail)
        return fake.clock() + timedelta(seconds=3 * next(ticks))
    fake.after_call("retrieve", lambda: fake.edit("Lead", ids[0], {"NumberOfEmployees": 7}))
    adapter = make_adapter(adapter_clock=slow_clock)
    outcomes = make_gate(adapter).propose([lead_update(i, NumberOfEmployees=250) for i in ids])
    assert [o.status for o in outcomes] == ["conflict", "applied", "applied"]
    assert fake.record(ids[0])["NumberOfEmployees"] == 7


def test_residual_window_batch_default_overwrites_an_edit_inside_the_window(fake, adapter, make_gate):
    """Pins the documented residual window: with the default batch_check, an edit landing less than
    max_check_age after the before-image read and before the Collections write is overwritten."""
    ids = seed_leads(fake, 2)
    fake.after_call("retrieve", lambda: fake.edit("Lead", ids[0], {"NumberOfEmployees": 7}))
    outcomes = make_gate(adapter).propose([lead_update(i, NumberOfEmployees=250) for i in ids])
    assert [o.status for o in outcomes] == ["applied", "applied"]
    assert fake.record(ids[0])["NumberOfEmployees"] == 250  # the person's 7 is lost: see README


def test_partial_batch_failure_applies_the_good_and_reports_the_bad(fake, adapter, make_gate):
    """A custom validation rule fails one record of a batch; the others are applied, and the trail
    holds both the ok results and the failure with Salesforce's errorCode, message and fields."""
    ids = seed_leads(fake, 3)
    fake.add_validation_rule("Lead", lambda r: (r.get("NumberOfEmployees") or 0) > 100_000,
                             "Employees must be at most 100,000", ["NumberOfEmployees"])
    gate = make_gate(adapter)
    outcomes = gate.propose([lead_update(ids[0], NumberOfEmployees=10), lead_update(ids[1], NumberOfEmployees=200_000),
                             lead_update(ids[2], NumberOfEmployees=30)])
    assert [o.status for o in outcomes] == ["applied", "failed", "applied"]
    assert [fake.record(i)["NumberOfEmployees"] for i in ids] == [10, 1, 30]
    results = {e.record_id: e.data for e in trail(gate, "write.result")}
    assert results[ids[0]]["status"] == results[ids[2]]["status"] == "ok"
    assert results[ids[1]]["status"] == "failed"
    assert results[ids[1]]["error"] == {"code": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "status": 400,
                                        "message": "Employees must be at most 100,000",
                                        "fields": ["NumberOfEmployees"]}
    intents = {e.record_id: e.data for e in trail(gate, "write.intent")}
    assert intents[ids[1]]["changes"] == [{"field": "NumberOfEmployees", "before": 1, "after": 200_000}]


def test_partial_create_failure_reports_required_fields(fake, adapter):
    """A create missing Salesforce's required fields fails alone with REQUIRED_FIELD_MISSING."""
    from crmgate.adapters.base import CreateRequest

    results = adapter.create_many("Opportunity", [
        CreateRequest({"Name": "A", "StageName": "Prospecting", "CloseDate": "2027-01-01"}, "k1"),
        CreateRequest({"Name": "B"}, "k2")])
    assert [r.status for r in results] == ["ok", "failed"]
    assert (results[1].error.code, results[1].error.fields) == ("REQUIRED_FIELD_MISSING", ("StageName", "CloseDate"))
