"""The sandbox's rows: value, required-field and version checks on a write, rows written and read back as records."""
from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from crmgate.adapters.base import Record
from crmgate.adapters.errors import RecordError
from crmgate.adapters.sandbox.schema import REQUIRED_ON_CREATE, SYSTEM_FIELDS, next_stamp


_SCALARS = frozenset({str, int, bool, type(None)})

# The stored ``fields`` text, written and read by the C encoder and scanner json.dumps and
# json.loads use, without their per-call wrappers (half of a record's JSON cost in a chunk). Only
# this module writes the text (flat dicts of scalars, no cycles: no cycle check), and it writes
# no surrounding whitespace (the scanner starts at 0 and json.loads' whitespace skips are moot).
# The text is exactly json.dumps(fields).
_ENCODE = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None, json.JSONEncoder().default, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True) \
    if json.encoder.c_make_encoder is not None else None  # type: ignore[attr-defined]
_SCAN = json.JSONDecoder().scan_once


def dump_fields(fields: Mapping[str, Any]) -> str:
    """``json.dumps(fields)``, for the stored ``fields`` column."""
    return "".join(_ENCODE(fields, 0)) if _ENCODE is not None else json.dumps(fields)


def load_fields(text: str) -> dict[str, Any]:
    """``json.loads`` of a stored ``fields`` column."""
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:  # not JSON at all: json.loads' own error
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


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


def conflict_error(id: str, expected: str | None, row: Any) -> RecordError | None:
    """The 412 for a write whose expected version is not the stored one (None: no check asked)."""
    if expected is None or expected == row["system_modstamp"]:
        return None
    return RecordError("PRECONDITION_FAILED", f"{id} changed since version {expected} (now {row['system_modstamp']})",
                       412, details={"current_version": row["system_modstamp"]})


UPDATE_ROW = ("UPDATE sandbox_records SET fields = ?, last_modified_date = ?, last_modified_by = ?,"
              " system_modstamp = ? WHERE id = ?")


def merged(row: Any, changes: Mapping[str, Any], stamp: str, actor: str) -> tuple[tuple[Any, ...], Record]:
    """The UPDATE parameters that write ``changes`` over ``row`` at ``stamp``, and the record as
    written (not read back: fields are JSON scalars, so they round-trip)."""
    fields = load_fields(row["fields"])
    for name, value in changes.items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    return ((dump_fields(fields), stamp, actor, stamp, row["id"]),
            written(row["object"], row["id"], fields, row["created_date"], row["created_by"], stamp, actor))


def write_fields(
    conn: sqlite3.Connection, row: Any, changes: Mapping[str, Any], now: datetime, actor: str
) -> Record:
    params, record = merged(row, changes, next_stamp(now, row["system_modstamp"]), actor)
    conn.execute(UPDATE_ROW, params)
    return record


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
    return Record(row["object"], row["id"], load_fields(row["fields"]), row["system_modstamp"], meta)
