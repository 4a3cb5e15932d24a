"""Turning trail rows into records, and :class:`TrailScan`: raw paged reads inside one snapshot."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Row, Select, select
from sqlalchemy.exc import SQLAlchemyError

from crmgate.trail import schema
from crmgate.trail.errors import TrailStoreError
from crmgate.trail.records import ID_FIELDS, Checkpoint, Entry

_E, _C, _H = schema.entries, schema.checkpoints, schema.head


def row_to_entry(row: Row[Any] | dict[str, Any]) -> Entry:
    """Build an :class:`Entry` from a ``trail_entries`` row (columns, data from the body)."""
    m = row._mapping if isinstance(row, Row) else row
    try:
        data = json.loads(m["body"])["data"]
    except (ValueError, TypeError, KeyError) as exc:
        raise TrailStoreError(f"entry {m['seq']} has a corrupt body; run the trail verifier") from exc
    return Entry(
        seq=int(m["seq"]), ts=m["ts"], kind=m["kind"], **{name: m[name] for name in ID_FIELDS},
        data=data, prev_hash=m["prev_hash"], hash=m["hash"],
    )


def row_to_checkpoint(row: Row[Any]) -> Checkpoint:
    m = row._mapping
    return Checkpoint(seq=int(m["seq"]), head_hash=m["head_hash"], ts=m["ts"],
                      key_id=m["key_id"], signature=m["signature"])


class TrailScan:
    """Raw, consistent reads inside one read transaction (see :meth:`TrailStore.scan`)."""

    def __init__(self, conn: Connection, page: int) -> None:
        self._conn = conn
        self._page = page

    def _all(self, stmt: Select[Any]) -> list[Row[Any]]:
        try:
            return list(self._conn.execute(stmt).all())
        except SQLAlchemyError as exc:
            raise TrailStoreError(f"reading the trail failed: {type(exc).__name__}") from exc

    def head(self) -> tuple[int, str] | None:
        """Return the head row ``(seq, hash)``, or None when the row is missing."""
        rows = self._all(select(_H.c.seq, _H.c.hash).where(_H.c.id == 1))
        return (int(rows[0][0]), rows[0][1]) if rows else None

    def rows(self, start: int = 1) -> Iterator[dict[str, Any]]:
        """Yield raw entry rows (all columns, including ``body``) from ``start`` in seq order."""
        after = start - 1
        while True:
            page = self._all(select(_E).where(_E.c.seq > after).order_by(_E.c.seq).limit(self._page))
            for row in page:
                yield dict(row._mapping)
            if len(page) < self._page:
                return
            after = int(page[-1].seq)

    def tuples(self, columns: tuple[str, ...], start: int = 1) -> Iterator[tuple[Any, ...]]:
        """Yield the named entry columns as plain tuples from ``start`` in seq order (``seq`` must be
        the first column): what an export streams, without building a dict per row."""
        after, cols = start - 1, [_E.c[name] for name in columns]
        while True:
            page = self._all(select(*cols).where(_E.c.seq > after).order_by(_E.c.seq).limit(self._page))
            yield from page
            if len(page) < self._page:
                return
            after = int(page[-1][0])

    def proposal_ids(self, equal: dict[str, str], since: str | None = None,
                     until: str | None = None) -> set[str]:
        """The proposal ids of every entry whose columns equal ``equal`` (``actor``, ``use_case``,
        ``object``, ``record_id``) with ``since <= ts < until``: the changes such entries belong to."""
        stmt = select(_E.c.proposal_id).distinct().where(_E.c.proposal_id.is_not(None))
        for name, value in equal.items():
            stmt = stmt.where(_E.c[name] == value)
        if since is not None:
            stmt = stmt.where(_E.c.ts >= since)
        if until is not None:
            stmt = stmt.where(_E.c.ts < until)
        return {row[0] for row in self._all(stmt)}

    def checkpoints(self, start: int = 1) -> Iterator[Checkpoint]:
        """Yield checkpoints from ``start`` in seq order."""
        after = start - 1
        while True:
            page = self._all(select(_C).where(_C.c.seq > after).order_by(_C.c.seq).limit(self._page))
            for row in page:
                yield row_to_checkpoint(row)
            if len(page) < self._page:
                return
            after = int(page[-1].seq)
