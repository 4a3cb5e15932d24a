"""The Collections chunks of one adapter call in flight together: order, failures, trail, settings."""
from __future__ import annotations

import threading
from typing import Any

import pytest

from crmgate.adapters.base import UpdateRequest
from crmgate.adapters.errors import AdapterConfigError, CRMValidationError
from crmgate.adapters.salesforce.settings import LoopbackSession, parse_settings
from tests.salesforce.conftest import lead_update, seed_leads, trail

WAIT = 10  # seconds; only ever reached when the chunks were NOT in flight together


class GatedSession(LoopbackSession):
    """Calls ``before(body)`` on the sending thread just before each Collections write goes out."""

    def __init__(self, netloc: str, before: Any) -> None:
        super().__init__(netloc)
        self.before = before

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        path = str(url).split("?", 1)[0]
        if method in ("PATCH", "POST", "DELETE") and path.endswith("/composite/sobjects"):
            self.before(kwargs.get("json"))
        return super().request(method, url, *args, **kwargs)


def gated(make_adapter, fake, before, **settings: Any):
    return make_adapter(session=GatedSession(fake.url.split("://", 1)[1], before), **settings)


def updates(ids: list[str], base: int = 100) -> list[UpdateRequest]:
    return [UpdateRequest(rid, {"NumberOfEmployees": base + k}) for k, rid in enumerate(ids)]


def test_chunks_of_one_call_are_in_flight_together(fake, make_adapter):
    """With concurrency 2, both chunks of a 400-record update are sent before either is answered."""
    ids = seed_leads(fake, 400)
    both_sent = threading.Barrier(2, timeout=WAIT)  # breaks (and fails the writes) if sent one by one
    adapter = gated(make_adapter, fake, lambda body: both_sent.wait(), concurrency=2)
    results = adapter.update_many("Lead", updates(ids))
    assert [(r.status, r.id) for r in results] == [("ok", rid) for rid in ids]
    assert fake.kinds() == ["collections.update"] * 2


def test_results_stay_in_request_order_when_answers_arrive_out_of_order(fake, make_adapter):
    """The first chunk is answered last; every result still sits at its request's position."""
    ids = seed_leads(fake, 600)
    others_done = threading.Event()
    answered = []

    def count() -> None:
        answered.append(1)
        if len(answered) == 2:
            others_done.set()

    def hold_first(body: dict[str, Any]) -> None:
        if body["records"][0]["id"] == ids[0]:
            assert others_done.wait(WAIT), "the other chunks were not in flight"

    fake.after_call("collections.update", count, times=2)
    adapter = gated(make_adapter, fake, hold_first, concurrency=3)
    results = adapter.update_many("Lead", updates(ids))
    assert [(r.status, r.id) for r in results] == [("ok", rid) for rid in ids]
    assert others_done.is_set() and len(answered) == 2
    assert [fake.record(rid)["NumberOfEmployees"] for rid in ids] == list(range(100, 700))


def test_a_chunk_that_fails_whole_fails_only_its_records(fake, make_adapter):
    """Three chunks in flight, one refused as a whole call: its 200 records fail, 400 are written."""
    ids = seed_leads(fake, 600)
    all_sent = threading.Barrier(3, timeout=WAIT)
    fake.fail("collections.update", status=400, code="INVALID_FIELD")
    adapter = gated(make_adapter, fake, lambda body: all_sent.wait(), concurrency=3)
    results = adapter.update_many("Lead", updates(ids))
    failed = [k for k, r in enumerate(results) if r.status == "failed"]
    assert len(failed) == 200 and failed == list(range(failed[0], failed[0] + 200)) and failed[0] % 200 == 0
    assert {(results[k].id, results[k].error.code) for k in failed} == {(ids[k], "INVALID_FIELD") for k in failed}
    assert all(not results[k].error.details.get("not_sent") for k in failed)
    written = [k for k in range(600) if k not in failed]
    assert [fake.record(ids[k])["NumberOfEmployees"] for k in written] == [100 + k for k in written]
    assert {fake.record(ids[k])["NumberOfEmployees"] for k in failed} == {1}


def test_a_later_chunk_failing_whole_keeps_what_was_written_applied(fake, make_adapter, make_gate):
    """One call at a time: chunk 1 is written, chunk 2 is refused, chunk 3 is not sent. The outcomes
    and the trail say exactly that (they used to call all 401 records failed, chunk 1 included)."""
    ids = seed_leads(fake, 401)
    adapter = make_adapter(concurrency=1)
    adapter.read_fields("Lead")
    fake.calls.clear()
    fake.fail("collections.update", status=400, code="INVALID_FIELD", after=1)
    gate = make_gate(adapter)
    outcomes = gate.propose([lead_update(rid, NumberOfEmployees=100 + k) for k, rid in enumerate(ids)])
    assert [o.status for o in outcomes] == ["applied"] * 200 + ["failed"] * 201
    assert {o.error["code"] for o in outcomes[200:]} == {"INVALID_FIELD"}
    assert outcomes[400].error["details"] == {"not_sent": True}
    assert fake.kinds() == ["retrieve", "collections.update", "collections.update"]
    assert [fake.record(rid)["NumberOfEmployees"] for rid in ids[:200]] == list(range(100, 300))
    assert {fake.record(rid)["NumberOfEmployees"] for rid in ids[200:]} == {1}
    results = {e.record_id: e.data["status"] for e in trail(gate, "write.result")}
    assert [results[rid] for rid in ids] == ["ok"] * 200 + ["failed"] * 201


def test_nothing_written_still_raises_and_sends_no_more(fake, make_adapter):
    """When the first chunk fails as a whole and nothing was written, the call raises, and the
    chunks after it are never sent."""
    ids = seed_leads(fake, 401)
    adapter = make_adapter(concurrency=1)
    fake.fail("collections.update", status=400, code="INVALID_FIELD")
    with pytest.raises(CRMValidationError) as raised:
        adapter.update_many("Lead", updates(ids))
    assert raised.value.code == "INVALID_FIELD"
    assert fake.kinds() == ["collections.update"]


def test_every_chunk_sent_concurrently_has_its_intents_in_the_trail(fake, make_adapter, make_gate):
    """Through the Gate with the default concurrency: before any chunk goes out, the trail holds a
    committed write.intent for every record in it; the call count stays the minimum."""
    ids = seed_leads(fake, 1000)
    gates: list[Any] = []
    seen: list[int] = []

    def check(body: dict[str, Any]) -> None:
        intents = {e.record_id for e in gates[0].store.query(kinds=["write.intent"])}
        sent = [r["id"] for r in body["records"]]
        assert set(sent) <= intents
        seen.append(len(sent))

    adapter = gated(make_adapter, fake, check, concurrency=4)
    adapter.read_fields("Lead")
    fake.calls.clear()
    gates.append(make_gate(adapter))
    outcomes = gates[0].propose([lead_update(rid, NumberOfEmployees=100 + k) for k, rid in enumerate(ids)])
    assert [o.status for o in outcomes] == ["applied"] * 1000
    assert sorted(seen) == [200] * 5
    assert sorted(fake.kinds()) == ["collections.update"] * 5 + ["retrieve"]
    assert [fake.record(rid)["NumberOfEmployees"] for rid in ids] == list(range(100, 1100))


@pytest.mark.parametrize("value", [0, 11, "4", True, 2.5])
def test_concurrency_must_be_a_whole_number_from_1_to_10(value):
    """A bad concurrency is a config error naming the setting; the default is 4."""
    with pytest.raises(AdapterConfigError, match="concurrency") as raised:
        parse_settings({"instance_url": "https://acme.my.salesforce.com", "concurrency": value})
    assert raised.value.code == "invalid_crm_config"
    assert parse_settings({"instance_url": "https://acme.my.salesforce.com"}).concurrency == 4
