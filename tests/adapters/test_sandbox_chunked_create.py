"""The sandbox's chunked creates answer and store exactly what its one-at-a-time creates do."""
from __future__ import annotations

import sqlite3

from crmgate.adapters.base import CreateRequest
from crmgate.adapters.sandbox.adapter import SandboxAdapter


def _requests(tag: str) -> list[CreateRequest]:
    return [
        CreateRequest({"LastName": "Ng", "Company": "Initech", "Email": None}, idempotency_key=f"{tag}-a"),
        CreateRequest({"LastName": "  ", "Company": "Blank"}, idempotency_key=f"{tag}-b"),  # required blank
        CreateRequest({"LastName": "Id", "Company": "X", "Id": "001"}, idempotency_key=f"{tag}-c"),  # system field
        CreateRequest({"LastName": "Ok", "Company": "NoKey", "NumberOfEmployees": 5, "Rating": True}),
        CreateRequest({"LastName": "Old", "Company": "Replayed"}, idempotency_key="first"),  # from an earlier call
        CreateRequest({"LastName": "Last", "Company": "Y", "Score": 1.5}, idempotency_key=f"{tag}-d"),
    ]


def _table(path, name: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT * FROM {name} ORDER BY 1, 2").fetchall()


def _run(path, clock, *, one_at_a_time: bool) -> list:
    sandbox = SandboxAdapter(path, clock=clock)
    if one_at_a_time:  # a pending fault that never fires keeps the one-at-a-time path
        sandbox.inject_fault("create_many", code="never", record_id="no-such-key")
    sandbox.max_batch = 4  # two chunks: the second one holds the replay
    sandbox.create_many("Lead", [CreateRequest({"LastName": "Old", "Company": "First"}, idempotency_key="first")])
    got = sandbox.create_many("Lead", _requests("k"))
    got += sandbox.create_many("Lead", [CreateRequest({"LastName": "Twice", "Company": "Z"}, idempotency_key="dup"),
                                        CreateRequest({"LastName": "Twice", "Company": "Z"}, idempotency_key="dup")])
    sandbox.close()
    return got


def test_chunked_creates_match_one_at_a_time_creates(tmp_path, clock):
    """Ids, records, errors, replays (earlier call and within one chunk) and stored rows are identical."""
    chunked = _run(tmp_path / "chunked.db", clock, one_at_a_time=False)
    single = _run(tmp_path / "single.db", clock, one_at_a_time=True)
    assert chunked == single
    assert [r.status for r in chunked] == ["ok", "failed", "failed", "ok", "ok", "ok", "ok", "ok"]
    assert chunked[4].info == {"idempotent_replay": True} and chunked[7].info == {"idempotent_replay": True}
    for table in ("sandbox_records", "sandbox_counters", "sandbox_idempotency"):
        assert _table(tmp_path / "chunked.db", table) == _table(tmp_path / "single.db", table)
