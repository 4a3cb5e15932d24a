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
from functools import lru_cache
from typing import Any

_SAFE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_COMPOUND = 200
#: rows one prefix may bring back (a bounded prefix look-up, like the CRMs' own)
PER_PREFIX = 200
_TOP = "\U0010ffff"  # sorts after every character: [p, p + _TOP) is "starts with p"


def _fold(value: Any) -> str | None:
    return value.casefold() if isinstance(value, str) else None


def register_functions(conn: sqlite3.Connection) -> None:
    conn.create_function("sandbox_fold", 1, _fold, deterministic=True)


def _expr(field: str) -> str:
    return f"sandbox_fold(json_extract(fields, '$.\"{field}\"'))"


def _ensure_index(conn: sqlite3.Connection, object: str, field: str, made: set[tuple[str, str]]) -> None:
    if (object, field) in made:  # created (or found) once by this adapter: indexes are never dropped
        return
    made.add((object, field))
    name = f"sandbox_ix_{object}_{field}".lower()
    conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON sandbox_records ({_expr(field)}) "
                 f"WHERE object = '{object}' AND is_deleted = 0")


def candidate_rows(conn: sqlite3.Connection, object: str, keys: Mapping[str, Sequence[str]],
                   prefixes: Mapping[str, Sequence[str]], limit: int,
                   made: set[tuple[str, str]] | None = None) -> list[Any]:
    """Live rows of ``object`` with a field equal to one of ``keys[field]`` or starting with one of
    ``prefixes[field]`` (case-folded; at most :data:`PER_PREFIX` rows per prefix, so a common
    prefix cannot crowd out the rest). Field names that are not plain identifiers match nothing."""
    made = set() if made is None else made  # the indexes this adapter already made
    # one look-up per equality list (of at most 500 values) or per prefix: its shape says its SQL
    shapes: list[tuple[str, int]] = []  # (field, values) for equality, (field, 0) for a prefix
    args: list[str] = []
    for field, values in keys.items():
        wanted = sorted({v.casefold() for v in values if isinstance(v, str)})
        if wanted and _safe(field):
            _ensure_index(conn, object, field, made)
            for start in range(0, len(wanted), 500):
                part = wanted[start:start + 500]
                shapes.append((field, len(part)))
                args += part
    for field, starts in prefixes.items():
        if not _safe(field):
            continue
        found = sorted({p.casefold() for p in starts if isinstance(p, str) and p})
        if found:
            _ensure_index(conn, object, field, made)
            for p in found:
                shapes.append((field, 0))
                args += (p, p + _TOP)
    ids: set[str] = set()
    # one SELECT per look-up lets each use its own index, in compound SELECTs of at most
    # _COMPOUND terms (SQLite allows 500)
    at = 0
    for start in range(0, len(shapes), _COMPOUND):
        part = shapes[start:start + _COMPOUND]
        n = sum(k or 2 for _, k in part)  # the arguments of these terms
        sql = _union(object, tuple(part)) if len(part) <= 8 else _build(object, part)
        ids.update(row[0] for row in conn.execute(sql, args[at:at + n]))
        at += n
    chosen = sorted(ids)[:limit]
    rows: list[Any] = []
    for start in range(0, len(chosen), 500):
        chunk = chosen[start:start + 500]
        rows += conn.execute(f"SELECT * FROM sandbox_records WHERE id IN ({','.join('?' * len(chunk))})"
                             " ORDER BY id", chunk).fetchall()
    return rows


@lru_cache(maxsize=256)
def _safe(field: str) -> bool:
    return _SAFE.match(field) is not None


@lru_cache(maxsize=1024)  # a look-up for a few proposals repeats the same few shapes: built once
def _union(object: str, shapes: tuple[tuple[str, int], ...]) -> str:
    return _build(object, shapes)


def _build(object: str, shapes: Sequence[tuple[str, int]]) -> str:
    """The compound SELECT of ids for these look-ups, in order: ``(field, n)`` an equality with n
    values, ``(field, 0)`` one prefix range."""
    return " UNION ".join([_term(object, field, n) for field, n in shapes])


@lru_cache(maxsize=1024)  # a batch repeats one prefix term per create: its text is made once
def _term(object: str, field: str, n: int) -> str:
    # the object is a literal (a known object name): a partial index is only used when the query
    # repeats its WHERE terms as written
    live = f"FROM sandbox_records WHERE object = '{object}' AND is_deleted = 0"
    expr = _expr(field)
    return (f"SELECT id {live} AND {expr} IN ({','.join('?' * n)})" if n else
            f"SELECT id FROM (SELECT id {live} AND {expr} >= ? AND {expr} < ? LIMIT {PER_PREFIX})")
