"""The sandbox's chunked updates answer and store exactly what its one-at-a-time updates do."""
from __future__ import annotations

import sqlite3
from datetime import timedelta

from crmgate.adapters.base import CreateRequest, DeleteRequest, UpdateRequest
from crmgate.adapters.sandbox.adapter import SandboxAdapter


def _table(path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT * FROM sandbox_records ORDER BY id").fetchall()


def _run(path, clock, *, one_at_a_time: bool) -> list:
    sandbox = SandboxAdapter(path, clock=clock)
    made = sandbox.create_many("Lead", [CreateRequest({"LastName": f"L{n}", "Company": "C", "Rating": "Warm"})
                                        for n in range(7)])
    ids = [r.id for r in made]
    sandbox.delete_many("Lead", [DeleteRequest(ids[5])])
    clock.advance(0.5)
    sandbox.update_many("Lead", [UpdateRequest(ids[6], {"Rating": "Cold"})])  # a stamp ahead of the clock below
    clock.now -= timedelta(seconds=1)
    if one_at_a_time:  # a pending fault that never fires keeps the one-at-a-time path
        sandbox.inject_fault("update_many", code="never", record_id="no-such-id")
    sandbox.max_batch = 5  # two chunks
    got = sandbox.update_many("Lead", [
        UpdateRequest(ids[0], {"Rating": "Hot", "Company": "New"}, expected_version=made[0].record.version),
        UpdateRequest(ids[1], {"Rating": None}),  # clears the field
        UpdateRequest(ids[2], {"Id": "x"}, expected_version="2020-01-01T00:00:00.000Z"),  # conflict first
        UpdateRequest(ids[3], {"Company": "  "}),  # a required field blanked
        UpdateRequest(ids[4], {"CreatedDate": "x"}),  # a system field
        UpdateRequest(ids[5], {"Id": "x"}),  # deleted, before the bad field
        UpdateRequest("00Q000000000999XXX", {"Rating": "Hot"}),  # missing
        UpdateRequest(ids[6], {"Rating": "Hot"}),  # its stamp is ahead of the clock: bumped past it
        UpdateRequest(ids[0], {"Rating": "Cold"}),  # the same record again, in the second chunk
    ])
    got += sandbox.update_many("Lead", [UpdateRequest(ids[1], {"Rating": "A"}),
                                        UpdateRequest(ids[1], {"Rating": "B"})])  # one id twice in a chunk
    sandbox.close()
    return got


def test_chunked_updates_match_one_at_a_time_updates(tmp_path, clock):
    """Results (records, versions, errors, conflicts) and stored rows are identical."""
    chunked = _run(tmp_path / "chunked.db", clock, one_at_a_time=False)
    single = _run(tmp_path / "single.db", type(clock)(), one_at_a_time=True)  # a clock from the same start
    assert chunked == single
    assert [r.status for r in chunked] == ["ok", "ok", "conflict", "failed", "failed", "failed", "failed", "ok",
                                           "ok", "ok", "ok"]
    assert chunked[7].record.version > "2026-11-22T09:00:00.500Z"
    assert chunked[10].record.fields["Rating"] == "B"
    assert [r.error.code for r in chunked[2:7]] == ["PRECONDITION_FAILED", "REQUIRED_FIELD_MISSING",
                                                   "INVALID_FIELD_FOR_INSERT_UPDATE", "ENTITY_IS_DELETED", "NOT_FOUND"]
    assert _table(tmp_path / "chunked.db") == _table(tmp_path / "single.db")
