"""Sandbox-specific behaviour beyond the adapter contract: ids, stamps, validation, faults, storage."""
from __future__ import annotations

import re
import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest

from crmgate.adapters import (
    AuthenticationError,
    CRMError,
    CRMValidationError,
    NotFoundError,
    QuotaExhaustedError,
    RateLimitError,
    ResponseError,
    TransportError,
    UnavailableError,
)
from crmgate.adapters.base import CreateRequest, DeleteRequest, UpdateRequest
from crmgate.adapters.sandbox.adapter import REQUIRED_ON_CREATE, SandboxAdapter, salesforce_id
from crmgate.adapters.sandbox.sample_data import seed_sample

LEAD = {"LastName": "Kim", "Company": "Hanbit"}
VALID = {
    "Account": {"Name": "Acme"},
    "Contact": {"LastName": "Müller"},
    "Lead": LEAD,
    "Opportunity": {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31"},
}
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def sandbox(tmp_path, clock):
    with SandboxAdapter(tmp_path / "crm.db", clock=clock) as adapter:
        yield adapter


def create(sandbox: SandboxAdapter, object: str = "Lead", **extra) -> str:
    [result] = sandbox.create_many(object, [CreateRequest({**VALID[object], **extra})])
    assert result.ok, result.error
    return result.id


def version(sandbox: SandboxAdapter, id: str, object: str = "Lead") -> str:
    return sandbox.get_many(object, [id])[id].version


# -- ids and stamps ----------------------------------------------------------------------------------


def test_salesforce_id_suffix_encodes_uppercase_positions() -> None:
    """The 3-char suffix flags the uppercase letters of each 5-char block, as Salesforce's does."""
    assert salesforce_id("005", 1) == "005000000000001AAA"
    assert salesforce_id("00Q", 1) == "00Q000000000001EAA"  # Q is char 3 of block 1: bit 2 -> "E"
    assert salesforce_id("a0Z", 123456789012) == "a0Z123456789012EAA"


def test_ids_are_deterministic_per_object(tmp_path, clock) -> None:
    """A fresh sandbox always hands out the same ids, with per-object key prefixes and counters."""
    seen = []
    for name in ("a.db", "b.db"):
        with SandboxAdapter(tmp_path / name, clock=clock) as sandbox:
            seen.append([create(sandbox, "Lead"), create(sandbox, "Account"), create(sandbox, "Lead")])
    assert seen[0] == seen[1] == ["00Q000000000001EAA", "001000000000001AAA", "00Q000000000002EAA"]
    with SandboxAdapter(":memory:", clock=clock) as memory:
        assert [create(memory, o) for o in VALID] == [
            "001000000000001AAA", "003000000000001AAA", "00Q000000000001EAA", "006000000000001AAA"]


def test_versions_strictly_increase_on_a_frozen_clock(sandbox) -> None:
    """Each write to a record gets a stamp 1 ms past the previous one when the clock does not move."""
    id = create(sandbox)
    stamps = [version(sandbox, id)]
    sandbox.update_many("Lead", [UpdateRequest(id, {"Title": "a"})])
    stamps.append(version(sandbox, id))
    sandbox.edit("Lead", id, {"Title": "b"})
    stamps.append(version(sandbox, id))
    sandbox.update_many("Lead", [UpdateRequest(id, {})])
    stamps.append(version(sandbox, id))
    assert stamps == [
        "2026-11-22T09:00:00.000Z", "2026-11-22T09:00:00.001Z", "2026-11-22T09:00:00.002Z", "2026-11-22T09:00:00.003Z",
    ]


def test_stamps_follow_the_clock_and_never_go_back(sandbox, clock) -> None:
    """Stamps take the clock's UTC time with milliseconds, but stay increasing if the clock goes back."""
    clock.now = datetime(2027, 1, 2, 3, 4, 5, 678_999, tzinfo=timezone(timedelta(hours=9)))
    id = create(sandbox)
    assert version(sandbox, id) == "2027-01-01T18:04:05.678Z"
    clock.now -= timedelta(hours=1)
    sandbox.edit("Lead", id, {"Title": "x"})
    assert version(sandbox, id) == "2027-01-01T18:04:05.679Z"


def test_meta_holds_system_fields_and_fields_hold_business_fields(sandbox, clock) -> None:
    """Meta records who changed what when; a person's edit shows as that person, crmgate's as crmgate."""
    id = create(sandbox, Title=None)
    clock.advance(60)
    sandbox.edit("Lead", id, {"Title": "CTO"}, actor="005000000000009AAA")
    record = sandbox.get_many("Lead", [id])[id]
    assert dict(record.fields) == {**LEAD, "Title": "CTO"}
    assert record.meta["CreatedDate"] == "2026-11-22T09:00:00.000Z"
    assert record.meta["LastModifiedDate"] == record.meta["SystemModstamp"] == record.version
    assert record.version == "2026-11-22T09:01:00.000Z" and STAMP.match(record.version)
    assert record.meta["LastModifiedById"] == "005000000000009AAA"
    sandbox.update_many("Lead", [UpdateRequest(id, {"Title": "CEO"})])
    assert sandbox.get_many("Lead", [id])[id].meta["LastModifiedById"] == "crmgate"


# -- validation and per-record outcomes ----------------------------------------------------------------


@pytest.mark.parametrize("object", sorted(REQUIRED_ON_CREATE))
def test_required_on_create_fails_only_that_record(sandbox, object) -> None:
    """A create missing or blanking a required field fails with REQUIRED_FIELD_MISSING; the rest is written."""
    required = REQUIRED_ON_CREATE[object]
    missing = {k: v for k, v in VALID[object].items() if k != required[-1]}
    blank = {**VALID[object], required[0]: "  "}
    results = sandbox.create_many(object, [CreateRequest(missing), CreateRequest(VALID[object]), CreateRequest(blank)])
    assert [r.status for r in results] == ["failed", "ok", "failed"]
    assert (results[0].error.code, results[0].error.status, results[0].error.fields) == (
        "REQUIRED_FIELD_MISSING", 400, (required[-1],))
    assert results[2].error.fields == (required[0],)
    assert list(sandbox.get_many(object, [results[1].id])) == [results[1].id]


def test_update_blanking_a_required_field_fails(sandbox) -> None:
    """An update that blanks a required field fails and leaves the stored value."""
    id = create(sandbox)
    [result] = sandbox.update_many("Lead", [UpdateRequest(id, {"Company": None, "Title": "x"})])
    assert (result.status, result.error.code) == ("failed", "REQUIRED_FIELD_MISSING")
    assert dict(sandbox.get_many("Lead", [id])[id].fields) == LEAD


@pytest.mark.parametrize(
    ("fields", "code"),
    [({"SystemModstamp": "x"}, "INVALID_FIELD_FOR_INSERT_UPDATE"), ({"Title": ["a"]}, "INVALID_TYPE_ON_FIELD_IN_RECORD"),
     ({"Amount": float("nan")}, "INVALID_TYPE_ON_FIELD_IN_RECORD"), ({"": 1}, "INVALID_FIELD")],
)
def test_bad_values_fail_the_record(sandbox, fields, code) -> None:
    """System fields, non-scalar or non-finite values and empty names are per-record failures."""
    [result] = sandbox.create_many("Lead", [CreateRequest({**LEAD, **fields})])
    assert (result.status, result.error.code, result.error.status) == ("failed", code, 400)


def test_json_scalars_and_odd_text_round_trip(sandbox) -> None:
    """Ints, floats, booleans and strings that look like numbers or hold lone surrogates come back as sent."""
    extra = {"NumberOfEmployees": 12, "AnnualRevenue": 0.1, "HasOptedOutOfEmail": False,
             "Title": "-1E02", "Description": "m² 北京 🚀 \ud800 ' \" \\ \x00"}
    id = create(sandbox, **extra)
    fields = sandbox.get_many("Lead", [id])[id].fields
    assert fields == {**LEAD, **extra}
    assert [type(fields[k]) for k in ("NumberOfEmployees", "AnnualRevenue", "HasOptedOutOfEmail", "Title")] == [
        int, float, bool, str]


def test_conflict_and_missing_records_carry_salesforce_codes(sandbox) -> None:
    """A stale version is PRECONDITION_FAILED 412; deleted is ENTITY_IS_DELETED, unknown NOT_FOUND, both 404."""
    id, gone = create(sandbox), create(sandbox)
    stale = version(sandbox, id)
    sandbox.edit("Lead", id, {"Title": "x"})
    sandbox.delete_many("Lead", [DeleteRequest(gone)])
    results = sandbox.update_many(
        "Lead", [UpdateRequest(id, {"Title": "y"}, stale), UpdateRequest(gone, {}), UpdateRequest("00Q000000000099EAA", {})]
    )
    assert [(r.status, r.error.code, r.error.status) for r in results] == [
        ("conflict", "PRECONDITION_FAILED", 412), ("failed", "ENTITY_IS_DELETED", 404), ("failed", "NOT_FOUND", 404)]
    assert results[0].error.details["current_version"] == version(sandbox, id)


def test_no_undelete_recreating_gives_a_new_id(sandbox) -> None:
    """A deleted record stays deleted; creating it again yields a different id."""
    id = create(sandbox)
    sandbox.delete_many("Lead", [DeleteRequest(id)])
    assert create(sandbox) != id
    assert sandbox.get_many("Lead", [id]) == {}


def test_ids_of_another_object_are_not_found(sandbox) -> None:
    """A Lead id is not an Account: reads omit it and writes fail NOT_FOUND."""
    id = create(sandbox)
    assert sandbox.get_many("Account", [id]) == {}
    [result] = sandbox.update_many("Account", [UpdateRequest(id, {"Name": "x"})])
    assert result.error.code == "NOT_FOUND"


def test_idempotency_replays_within_a_call_across_reopen_and_per_object(tmp_path, clock) -> None:
    """A key maps to one record even inside one call and after reopening; other objects have their own keys."""
    path = tmp_path / "crm.db"
    with SandboxAdapter(path, clock=clock) as sandbox:
        first, again = sandbox.create_many("Lead", [CreateRequest(LEAD, "k"), CreateRequest(LEAD, "k")])
        assert (first.info, again.info, again.id, again.record) == ({}, {"idempotent_replay": True}, first.id, first.record)
    with SandboxAdapter(path, clock=clock) as sandbox:
        [replay] = sandbox.create_many("Lead", [CreateRequest({"LastName": "Other", "Company": "x"}, "k")])
        [account] = sandbox.create_many("Account", [CreateRequest({"Name": "Acme"}, "k")])
        assert (replay.id, replay.info) == (first.id, {"idempotent_replay": True})
        assert account.info == {} and account.id.startswith("001")
        assert len(sandbox.get_many("Lead", [salesforce_id("00Q", n) for n in range(1, 4)])) == 1


def test_failed_create_does_not_burn_its_idempotency_key(sandbox) -> None:
    """A rejected create leaves its key free, so a corrected retry is created."""
    [bad] = sandbox.create_many("Lead", [CreateRequest({"LastName": "Kim"}, "k")])
    [good] = sandbox.create_many("Lead", [CreateRequest(LEAD, "k")])
    assert (bad.status, good.status, good.info) == ("failed", "ok", {})


# -- faults, calls, storage -----------------------------------------------------------------------


def test_per_record_fault_fails_only_that_record(sandbox) -> None:
    """An injected record fault fails the matching record with its code, for `times` calls, then stops."""
    a, b = create(sandbox), create(sandbox)
    sandbox.inject_fault("update_many", code="UNABLE_TO_LOCK_ROW", record_id=b, times=2, status=503)
    for _ in range(2):
        results = sandbox.update_many("Lead", [UpdateRequest(a, {"Title": "x"}), UpdateRequest(b, {"Title": "x"})])
        assert [r.status for r in results] == ["ok", "failed"]
        assert (results[1].error.code, results[1].error.retryable) == ("UNABLE_TO_LOCK_ROW", True)
    assert "Title" not in sandbox.get_many("Lead", [b])[b].fields
    assert sandbox.update_many("Lead", [UpdateRequest(b, {"Title": "x"})])[0].ok


def test_create_fault_matches_idempotency_key(sandbox) -> None:
    """A create fault with record_id matches the request's idempotency key and nothing is created for it."""
    sandbox.inject_fault("create_many", code="DUPLICATE_VALUE", record_id="k2", status=400)
    results = sandbox.create_many("Lead", [CreateRequest(LEAD, "k1"), CreateRequest(LEAD, "k2")])
    assert [(r.status, r.id) for r in results] == [("ok", "00Q000000000001EAA"), ("failed", None)]
    assert results[1].error.retryable is False


@pytest.mark.parametrize(
    ("code", "status", "error_class"),
    [("UNAVAILABLE", 503, UnavailableError), ("SERVER_ERROR", 500, UnavailableError),
     ("connection_error", 500, TransportError), ("rate_limited", 429, RateLimitError),
     ("quota_exhausted", 403, QuotaExhaustedError), ("INVALID_SESSION_ID", 401, AuthenticationError),
     ("malformed_response", 200, ResponseError), ("weird", 418, CRMError)],
)
def test_whole_call_fault_raises_and_writes_nothing(sandbox, code, status, error_class) -> None:
    """A whole-call fault raises the matching CRMError subclass before anything is written, once."""
    sandbox.inject_fault("create_many", code=code, status=status, whole_call=True, retry_after=2.5)
    with pytest.raises(CRMError) as raised:
        sandbox.create_many("Lead", [CreateRequest(LEAD, "k")])
    assert type(raised.value) is error_class and raised.value.code == code
    if isinstance(raised.value, RateLimitError):
        assert raised.value.retry_after == 2.5
    [retry] = sandbox.create_many("Lead", [CreateRequest(LEAD, "k")])
    assert (retry.status, retry.info, retry.id) == ("ok", {}, "00Q000000000001EAA")


def test_get_many_fault_and_bad_fault_arguments(sandbox) -> None:
    """get_many takes whole-call faults; meaningless fault settings are refused."""
    sandbox.inject_fault("get_many", code="timeout", whole_call=True)
    with pytest.raises(TransportError) as raised:
        sandbox.get_many("Lead", ["x"])
    assert raised.value.code == "timeout"
    assert sandbox.get_many("Lead", ["x"]) == {}
    for kwargs in ({"method": "get_many"}, {"method": "upsert"}, {"method": "create_many", "times": 0},
                   {"method": "create_many", "whole_call": True, "record_id": "x"}):
        with pytest.raises(ValueError):
            sandbox.inject_fault(code="X", **kwargs)


def test_calls_are_chunked_at_max_batch(sandbox) -> None:
    """Requests are split into max_batch-sized calls, logged per chunk; empty requests make no call."""
    sandbox.max_batch = 3
    results = sandbox.create_many("Lead", [CreateRequest({**LEAD, "Title": str(n)}) for n in range(7)])
    ids = [r.id for r in results]
    assert [sandbox.get_many("Lead", [id])[id].fields["Title"] for id in ids] == [str(n) for n in range(7)]
    sandbox.calls.clear()
    assert len(sandbox.get_many("Lead", ids + ids)) == 7
    assert sandbox.update_many("Lead", []) == [] and sandbox.get_many("Lead", []) == {}
    assert sandbox.calls == [("get_many", "Lead", 3), ("get_many", "Lead", 3), ("get_many", "Lead", 1)]


def test_a_fault_on_a_later_chunk_keeps_earlier_chunks(sandbox) -> None:
    """Each chunk is its own transaction: a whole-call failure on chunk 2 leaves chunk 1 written and
    reported ok; the refused chunk and the unsent one are failed, and certainly so (not ambiguous)."""
    sandbox.max_batch = 2
    sandbox.inject_fault("create_many", code="connection_error", whole_call=True, after=1)
    got = sandbox.create_many("Lead", [CreateRequest(LEAD, f"k{n}") for n in range(5)])
    assert [r.status for r in got] == ["ok", "ok", "failed", "failed", "failed"]
    assert not any(r.error.ambiguous for r in got[2:])
    assert {r.error.code for r in got[2:]} == {"connection_error"}
    assert sandbox.calls == [("create_many", "Lead", 2), ("create_many", "Lead", 2)]
    ids = [salesforce_id("00Q", n) for n in range(1, 6)]
    assert list(sandbox.get_many("Lead", ids)) == ids[:2]
    retried = sandbox.create_many("Lead", [CreateRequest(LEAD, f"k{n}") for n in range(5)])
    assert [r.info.get("idempotent_replay", False) for r in retried] == [True, True, False, False, False]
    assert [r.id for r in retried] == ids


def test_persistence_across_reopen(tmp_path, clock) -> None:
    """Records, versions and the id counter survive closing and reopening the file."""
    path = tmp_path / "crm.db"
    with SandboxAdapter(path, clock=clock) as sandbox:
        id = create(sandbox, Title="한국어 ²")
        before = sandbox.get_many("Lead", [id])[id]
    with SandboxAdapter(path, clock=clock) as sandbox:
        assert sandbox.get_many("Lead", [id])[id] == before
        assert create(sandbox) == "00Q000000000002EAA"


def test_sqlite_lock_becomes_unavailable_error(tmp_path, clock) -> None:
    """Another process holding the write lock makes a write raise a retryable UnavailableError."""
    path = tmp_path / "crm.db"
    sandbox = SandboxAdapter(path, clock=clock, timeout=0)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(UnavailableError) as raised:
            sandbox.create_many("Lead", [CreateRequest(LEAD)])
        assert raised.value.code == "UNABLE_TO_LOCK_ROW"
        assert raised.value.retryable and "locked" in raised.value.message
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert create(sandbox) == "00Q000000000001EAA"
    sandbox.close()


def test_not_a_database_and_closed_adapter_raise_crm_errors(tmp_path, sandbox) -> None:
    """A corrupt file and use after close raise CRMError, never sqlite3 errors."""
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a sqlite file at all" * 100)
    with pytest.raises(CRMError) as raised:
        SandboxAdapter(junk)
    assert raised.value.code == "sandbox_error"
    assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)
    sandbox.close()
    with pytest.raises(CRMError, match="closed") as raised:
        sandbox.get_many("Lead", ["x"])
    assert raised.value.code == "closed"


@pytest.mark.parametrize("method", ["get_many", "create_many", "update_many", "delete_many"])
def test_unknown_object_raises_not_found(sandbox, method) -> None:
    """An object the sandbox does not have raises NotFoundError with code unknown_object."""
    with pytest.raises(NotFoundError) as raised:
        getattr(sandbox, method)("Widget", [])
    assert (raised.value.code, raised.value.status) == ("unknown_object", 404)


def test_edit_refuses_missing_records_and_blank_required_fields(sandbox) -> None:
    """A person cannot edit a deleted record nor blank a required field in the CRM's UI either."""
    id = create(sandbox)
    with pytest.raises(CRMValidationError):
        sandbox.edit("Lead", id, {"LastName": ""})
    sandbox.delete_many("Lead", [DeleteRequest(id)])
    with pytest.raises(NotFoundError) as raised:
        sandbox.edit("Lead", id, {"Title": "x"})
    assert raised.value.code == "ENTITY_IS_DELETED"


def test_threads_and_second_instances_never_share_an_id(tmp_path, clock) -> None:
    """Concurrent creates through one instance and through a second one on the same file get distinct ids."""
    path = tmp_path / "crm.db"
    one, two = SandboxAdapter(path, clock=clock), SandboxAdapter(path, clock=clock)
    ids: list[str] = []

    def work(adapter: SandboxAdapter) -> None:
        ids.extend(r.id for r in adapter.create_many("Lead", [CreateRequest(LEAD) for _ in range(10)]))

    threads = [threading.Thread(target=work, args=(adapter,)) for adapter in (one, one, two, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    one.close()
    two.close()
    assert sorted(ids) == [salesforce_id("00Q", n) for n in range(1, 41)]


# -- sample data --------------------------------------------------------------------------------------


def test_seed_sample_is_deterministic_and_idempotent(tmp_path, clock) -> None:
    """Two fresh sandboxes get identical sample records; seeding again creates nothing new."""
    snapshots = []
    for name in ("a.db", "b.db"):
        with SandboxAdapter(tmp_path / name, clock=clock) as sandbox:
            ids = seed_sample(sandbox)
            assert seed_sample(sandbox) == ids
            snapshots.append({o: [dict(r.fields) for r in sandbox.get_many(o, i).values()] for o, i in ids.items()})
    assert snapshots[0] == snapshots[1]
    assert {o: len(v) for o, v in snapshots[0].items()} == {"Account": 5, "Contact": 8, "Lead": 8, "Opportunity": 8}


def test_sample_data_is_realistic_and_awkward(sandbox) -> None:
    """Sample records link to accounts, use allowed stages and owners, and include awkward text."""
    ids = seed_sample(sandbox)
    records = {o: list(sandbox.get_many(o, i).values()) for o, i in ids.items()}
    text = " ".join(str(v) for rs in records.values() for r in rs for v in r.fields.values())
    for awkward in ("주식회사", "有限公司", "O'", "-1E02", "²"):
        assert awkward in text
    assert {r.fields["AccountId"] for r in records["Contact"] + records["Opportunity"]} <= set(ids["Account"])
    for opp in records["Opportunity"]:
        assert opp.fields["StageName"] in {"Prospecting", "Qualification", "Proposal", "Negotiation"}
        assert re.fullmatch(r"005\d{12}AAA", opp.fields["OwnerId"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", opp.fields["CloseDate"])
    for lead in records["Lead"]:
        assert {"Company", "LastName", "Email", "Country", "NumberOfEmployees", "Rating"} <= set(lead.fields)
        assert len(lead.fields["Country"]) == 2


def test_a_fault_after_the_write_is_ambiguous(sandbox) -> None:
    """``after_write``: the chunk is applied, then the call fails; the error says the effect is unknown."""
    sandbox.inject_fault("create_many", code="connection_error", whole_call=True, after_write=True)
    with pytest.raises(TransportError) as raised:
        sandbox.create_many("Lead", [CreateRequest(LEAD, "k1")])
    assert raised.value.ambiguous and raised.value.to_record_error().to_dict()["ambiguous"] is True
    assert list(sandbox.get_many("Lead", [salesforce_id("00Q", 1)]))  # it did land


def test_a_fault_after_a_later_chunk_is_written_marks_only_that_chunk_ambiguous(sandbox) -> None:
    """Chunk 1 answered, chunk 2 applied but unanswered (ambiguous), chunk 3 never sent (certain)."""
    sandbox.max_batch = 2
    sandbox.inject_fault("create_many", code="SERVER_UNAVAILABLE", status=503, whole_call=True, after=1,
                         after_write=True)
    got = sandbox.create_many("Lead", [CreateRequest(LEAD, f"k{n}") for n in range(5)])
    assert [r.status for r in got] == ["ok", "ok", "failed", "failed", "failed"]
    assert [r.error.ambiguous for r in got[2:]] == [True, True, False]
    assert len(sandbox.get_many("Lead", [salesforce_id("00Q", n) for n in range(1, 6)])) == 4


def test_a_write_returns_the_record_as_a_read_gives_it(sandbox: SandboxAdapter, clock) -> None:
    """Create and update return the stored record (fields, version, meta) without re-reading it."""
    [made] = sandbox.create_many("Lead", [CreateRequest({**LEAD, "Rating": None, "NumberOfEmployees": 7},
                                                        idempotency_key="k1")])
    assert made.record == sandbox.get_many("Lead", [made.id])[made.id]
    [changed] = sandbox.update_many("Lead", [UpdateRequest(made.id, {"Rating": "Hot", "Company": "Hanbit 2"},
                                                           expected_version=made.record.version)])
    assert changed.record == sandbox.get_many("Lead", [made.id])[made.id]
    assert changed.record.meta["CreatedDate"] == made.record.meta["CreatedDate"]
