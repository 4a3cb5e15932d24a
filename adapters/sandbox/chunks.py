"""One chunk of sandbox writes in a few statements rather than a few a record.

Each function answers and stores exactly what the one-at-a-time path of
:class:`~crmgate.adapters.sandbox.adapter.SandboxAdapter` does (tests compare both paths), or
returns None to send the chunk down that path: a key or id repeated within the chunk (the later
request must see the earlier one's effect). The adapter keeps that path for pending faults too.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from crmgate.adapters.base import CreateRequest, UpdateRequest, WriteResult
from crmgate.adapters.sandbox.rows import (UPDATE_ROW, bad_values, conflict_error, dump_fields, fetch_row, gone_error, merged,
                                           required_error, to_record, written)
from crmgate.adapters.sandbox.schema import KEY_PREFIXES, format_stamp, next_stamp, salesforce_id


def create_chunk(conn: sqlite3.Connection, object: str, chunk: Sequence[CreateRequest], now: datetime,
                 user: str) -> list[WriteResult] | None:
    """The creates of one chunk in four statements: one look-up of the idempotency keys, one
    counter update for every new id, two multi-row inserts. None when a key repeats within the
    chunk (a later one replays the earlier: the one-at-a-time path does that)."""
    keys = [r.idempotency_key for r in chunk if r.idempotency_key is not None]
    if len(set(keys)) != len(keys):
        return None
    seen: dict[str, str] = {}
    for start in range(0, len(keys), 500):
        part = keys[start:start + 500]
        seen.update(conn.execute(f"SELECT key, id FROM sandbox_idempotency WHERE object = ? AND key IN "
                                 f"({','.join('?' * len(part))})", [object, *part]).fetchall())
    results: list[WriteResult | None] = [None] * len(chunk)
    todo: list[int] = []
    for i, req in enumerate(chunk):
        if req.idempotency_key in seen:
            row = fetch_row(conn, object, seen[req.idempotency_key])
            record = None if row is None or row["is_deleted"] else to_record(row)
            results[i] = WriteResult("ok", seen[req.idempotency_key], record, info={"idempotent_replay": True})
            continue
        error = bad_values(req.fields) or required_error(object, req.fields, creating=True)
        if error is not None:
            results[i] = WriteResult("failed", error=error)
        else:
            todo.append(i)
    if todo:
        # the counters the one-at-a-time path would have taken, in request order
        (last,) = conn.execute(
            "INSERT INTO sandbox_counters (object, next) VALUES (?, ?)"
            " ON CONFLICT (object) DO UPDATE SET next = next + ? RETURNING next",
            (object, len(todo), len(todo)),
        ).fetchone()
        stamp = next_stamp(now, None)
        prefix = KEY_PREFIXES[object]
        rows, claimed = [], []
        for n, i in enumerate(todo, start=last - len(todo) + 1):
            req = chunk[i]
            new_id = salesforce_id(prefix, n)
            fields = {name: value for name, value in req.fields.items() if value is not None}
            rows.append((new_id, object, dump_fields(fields), stamp, user, stamp, user, stamp))
            if req.idempotency_key is not None:
                claimed.append((object, req.idempotency_key, new_id))
            results[i] = WriteResult("ok", new_id, written(object, new_id, fields, stamp, user, stamp, user))
        conn.executemany("INSERT INTO sandbox_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)", rows)
        conn.executemany("INSERT INTO sandbox_idempotency VALUES (?, ?, ?)", claimed)
    return results  # type: ignore[return-value]


def update_chunk(conn: sqlite3.Connection, object: str, chunk: Sequence[UpdateRequest], now: datetime,
                 user: str) -> list[WriteResult] | None:
    """The updates of one chunk in two statements: one read of every row, one multi-row update.
    Checks in the one-at-a-time order: missing or deleted, version, values, required fields. None
    when an id repeats within the chunk (the later update must see the earlier write) or is not text."""
    ids = [r.id for r in chunk]
    if any(i.__class__ is not str for i in ids) or len(set(ids)) != len(ids):
        return None
    rows = {}
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        rows.update((row["id"], row) for row in conn.execute(
            f"SELECT * FROM sandbox_records WHERE object = ? AND id IN ({','.join('?' * len(part))})",
            [object, *part]))
    results: list[WriteResult] = []
    params = []
    stamp_now = format_stamp(now)  # once a chunk: next_stamp formats ``now`` for every record
    for req in chunk:
        row = rows.get(req.id)
        error = gone_error(row, req.id)
        if error is not None:
            results.append(WriteResult("failed", req.id, error=error))
            continue
        conflict = conflict_error(req.id, req.expected_version, row)
        if conflict is not None:
            results.append(WriteResult("conflict", req.id, error=conflict))
            continue
        error = bad_values(req.fields) or required_error(object, req.fields, creating=False)
        if error is not None:
            results.append(WriteResult("failed", req.id, error=error))
            continue
        before = row["system_modstamp"]
        written_row, record = merged(row, req.fields, stamp_now if stamp_now > before else next_stamp(now, before),
                                     user)
        params.append(written_row)
        results.append(WriteResult("ok", req.id, record))
    if params:
        conn.executemany(UPDATE_ROW, params)
    return results
