"""The sandbox's rows: value and required-field checks on a write, and rows read back as records."""
from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from crmgate.adapters.base import CreateRequest, Record, WriteResult
from crmgate.adapters.errors import (
    RecordError,
)
from crmgate.adapters.sandbox.schema import KEY_PREFIXES, REQUIRED_ON_CREATE, SYSTEM_FIELDS, next_stamp, salesforce_id


_SCALARS = frozenset({str, int, bool, type(None)})


def bad_values(fields: Mapping[str, Any]) -> RecordError | None:
    for name, value in fields.items():
        if value.__class__ in _SCALARS and name.__class__ is str and name and name not in SYSTEM_FIELDS:
            continue  # the common case, in one test
        if not isinstance(name, str) or not name:
            return RecordError("INVALID_FIELD", f"bad field name {name!r}", status=400)
        if name in SYSTEM_FIELDS:
            return RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE", f"{name} is maintained by the CRM", status=400, fields=(name,)
            )
        ok_float = isinstance(value, float) and math.isfinite(value)
        if not (value is None or isinstance(value, (str, bool, int)) or ok_float):
            return RecordError(
                "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: {type(value).__name__} is not a JSON scalar",
                status=400, fields=(name,),
            )
    return None


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def required_error(object: str, fields: Mapping[str, Any], *, creating: bool) -> RecordError | None:
    # on update only the fields being written can become blank; a list comprehension, not a
    # generator into tuple(): this runs for every create and update of the sandbox
    missing = [name for name in REQUIRED_ON_CREATE[object]
               if (creating or name in fields) and is_blank(fields.get(name))]
    if not missing:
        return None
    return RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: {missing}", 400, tuple(missing))


def fetch_row(conn: sqlite3.Connection, object: str, id: str) -> Any:
    return conn.execute("SELECT * FROM sandbox_records WHERE object = ? AND id = ?", (object, id)).fetchone()


def gone_error(row: Any, id: str) -> RecordError | None:
    if row is None:
        return RecordError("NOT_FOUND", f"no record {id}", 404)
    if row["is_deleted"]:
        return RecordError("ENTITY_IS_DELETED", f"record {id} is deleted", 404)
    return None


def write_fields(
    conn: sqlite3.Connection, row: Any, changes: Mapping[str, Any], now: datetime, actor: str
) -> Record:
    fields = json.loads(row["fields"])
    for name, value in changes.items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    stamp = next_stamp(now, row["system_modstamp"])
    conn.execute(
        "UPDATE sandbox_records SET fields = ?, last_modified_date = ?, last_modified_by = ?,"
        " system_modstamp = ? WHERE id = ?",
        (json.dumps(fields), stamp, actor, stamp, row["id"]),
    )
    # the record as written, without reading it back (fields are JSON scalars: they round-trip)
    return written(row["object"], row["id"], fields, row["created_date"], row["created_by"], stamp, actor)


def written(object: str, id: str, fields: dict[str, Any], created: str, created_by: str, stamp: str,
            actor: str) -> Record:
    """The record a write just stored, as :func:`to_record` would read it back."""
    meta = {"CreatedDate": created, "CreatedById": created_by, "LastModifiedDate": stamp,
            "LastModifiedById": actor, "SystemModstamp": stamp}
    return Record(object, id, fields, stamp, meta)


def to_record(row: Any) -> Record:
    meta = {
        "CreatedDate": row["created_date"],
        "CreatedById": row["created_by"],
        "LastModifiedDate": row["last_modified_date"],
        "LastModifiedById": row["last_modified_by"],
        "SystemModstamp": row["system_modstamp"],
    }
    return Record(row["object"], row["id"], json.loads(row["fields"]), row["system_modstamp"], meta)


def create_chunk(conn: sqlite3.Connection, object: str, chunk: Sequence[CreateRequest], now: datetime,
                 user: str) -> list[WriteResult] | None:
    """The creates of one chunk, each as the one-at-a-time path would make it, in four statements
    rather than four a record: one look-up of the idempotency keys, one counter update for every
    new id, two multi-row inserts. None when a key repeats within the chunk (a later one replays
    the earlier: the one-at-a-time path does that); the caller also keeps that path for faults."""
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
        rows, claimed = [], []
        for n, i in enumerate(todo, start=last - len(todo) + 1):
            req = chunk[i]
            new_id = salesforce_id(KEY_PREFIXES[object], n)
            fields = {name: value for name, value in req.fields.items() if value is not None}
            rows.append((new_id, object, json.dumps(fields), stamp, user, stamp, user, stamp))
            if req.idempotency_key is not None:
                claimed.append((object, req.idempotency_key, new_id))
            results[i] = WriteResult("ok", new_id, written(object, new_id, fields, stamp, user, stamp, user))
        conn.executemany("INSERT INTO sandbox_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)", rows)
        conn.executemany("INSERT INTO sandbox_idempotency VALUES (?, ?, ?)", claimed)
    return results  # type: ignore[return-value]
