"""The sandbox's candidate search: case-insensitive equality and prefix look-ups on JSON fields.

Fields are stored as one JSON document per record, so each searched field gets a partial
expression index on ``sandbox_fold(json_extract(fields, '$."Field"'))`` for its object, created
the first time the field is searched. ``sandbox_fold`` is Python's ``casefold`` registered as a
deterministic SQL function on every connection the adapter opens (SQLite's own ``lower`` folds
ASCII only). Equality is an index lookup, a prefix an index range, so a look-up stays
milliseconds at 100,000 records.
"""
from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

_SAFE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_COMPOUND = 200
_TOP = "\U0010ffff"  # sorts after every character: [p, p + _TOP) is "starts with p"


def _fold(value: Any) -> str | None:
    return value.casefold() if isinstance(value, str) else None


def register_functions(conn: sqlite3.Connection) -> None:
    conn.create_function("sandbox_fold", 1, _fold, deterministic=True)


def _expr(field: str) -> str:
    return f"sandbox_fold(json_extract(fields, '$.\"{field}\"'))"


def _ensure_index(conn: sqlite3.Connection, object: str, field: str) -> None:
    name = f"sandbox_ix_{object}_{field}".lower()
    conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON sandbox_records ({_expr(field)}) "
                 f"WHERE object = '{object}' AND is_deleted = 0")


def candidate_rows(conn: sqlite3.Connection, object: str, keys: Mapping[str, Sequence[str]],
                   prefixes: Mapping[str, Sequence[str]], limit: int) -> list[Any]:
    """Live rows of ``object`` with a field equal to one of ``keys[field]`` or starting with one of
    ``prefixes[field]`` (case-folded). Field names that are not plain identifiers match nothing."""
    clauses: list[str] = []
    params: list[Any] = []
    for field, values in keys.items():
        wanted = sorted({v.casefold() for v in values if isinstance(v, str)})
        if not wanted or not _SAFE.match(field):
            continue
        _ensure_index(conn, object, field)
        clauses.append(f"{_expr(field)} IN ({','.join('?' * len(wanted))})")
        params += wanted
    for field, starts in prefixes.items():
        if not _SAFE.match(field):
            continue
        for p in sorted({p.casefold() for p in starts if isinstance(p, str) and p}):
            _ensure_index(conn, object, field)
            clauses.append(f"({_expr(field)} >= ? AND {_expr(field)} < ?)")
            params += [p, p + _TOP]
    if not clauses:
        return []
    # one SELECT per clause joined by UNION lets SQLite use each clause's index
    # the object is a literal (a known object name): a partial index is only used when the query
    # repeats its WHERE terms as written; one SELECT per clause lets each use its own index, in
    # compound SELECTs of at most _COMPOUND terms (SQLite allows 500)
    ids: set[str] = set()
    for start in range(0, len(clauses), _COMPOUND):
        part = clauses[start:start + _COMPOUND]
        n = sum(c.count("?") for c in part)
        union = " UNION ".join(f"SELECT id FROM sandbox_records WHERE object = '{object}' AND is_deleted = 0 AND {c}"
                               for c in part)
        ids.update(row[0] for row in conn.execute(union, params[:n]))
        params = params[n:]
    chosen = sorted(ids)[:limit]
    rows: list[Any] = []
    for start in range(0, len(chosen), 500):
        chunk = chosen[start:start + 500]
        rows += conn.execute(f"SELECT * FROM sandbox_records WHERE id IN ({','.join('?' * len(chunk))})"
                             " ORDER BY id", chunk).fetchall()
    return rows
