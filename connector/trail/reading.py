"""Reading the trail store: pages of entries, filtered queries, the head, checkpoints and one
consistent snapshot for streaming (:class:`TrailReader`, the read half of
:class:`crmgate.trail.store.TrailStore`). Entries are built from the indexed columns plus ``data``
from the stored body (run the verifier to check they agree). Driver errors surface as
:class:`TrailStoreError`.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Engine, Select, func, select
from sqlalchemy.exc import SQLAlchemyError

from crmgate.trail import schema
from crmgate.trail.engine import BEGIN_OPTION
from crmgate.trail.pgappend import RELEASE_BARRIER, take_barrier
from crmgate.trail.errors import TrailStoreError
from crmgate.trail.records import Checkpoint, Entry
from crmgate.trail.scan import TrailScan, row_to_checkpoint, row_to_entry

_E, _C, _H = schema.entries, schema.checkpoints, schema.head


def format_ts(moment: datetime) -> str:
    """Return ``moment`` as ISO-8601 UTC with microseconds and ``Z``; naive datetimes are refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("trail timestamps need a timezone-aware datetime")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ts_arg(value: str | datetime) -> str:
    return format_ts(value) if isinstance(value, datetime) else value


class TrailReader:
    """The read methods of the trail store; ``engine`` and ``_sqlite`` are set by the store."""

    engine: Engine
    _sqlite: bool

    @contextmanager
    def _reading(self, snapshot: bool = False) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                barrier = False
                try:
                    if self._sqlite:
                        conn.execution_options(**{BEGIN_OPTION: "DEFERRED"})
                    elif snapshot:
                        barrier = take_barrier(conn.connection.driver_connection)
                        conn.execution_options(isolation_level="REPEATABLE READ")
                    with conn.begin():
                        if barrier:  # the snapshot is taken as this first statement starts
                            conn.exec_driver_sql(RELEASE_BARRIER)
                            barrier = False
                        yield conn
                finally:
                    if barrier:  # never back to the pool holding it: every append would wait
                        conn.invalidate()
        except SQLAlchemyError as exc:
            raise TrailStoreError(f"reading the trail failed: {type(exc).__name__}") from exc

    # -- reading -----------------------------------------------------------------------------

    def _entries(self, stmt: Select[Any]) -> list[Entry]:
        with self._reading() as conn:
            return [row_to_entry(row) for row in conn.execute(stmt)]

    def read(self, start: int = 1, limit: int = 1000) -> list[Entry]:
        """Return up to ``limit`` entries with ``seq >= start``, in seq order."""
        return self._entries(select(_E).where(_E.c.seq >= start).order_by(_E.c.seq).limit(limit))

    def iter_entries(self, start: int = 1, page: int = 1000) -> Iterator[Entry]:
        """Yield every entry from ``start`` in seq order, reading ``page`` rows at a time."""
        while True:
            batch = self.read(start, page)
            yield from batch
            if len(batch) < page:
                return
            start = batch[-1].seq + 1

    def entries_for(self, *, change_id: str | None = None, proposal_id: str | None = None) -> list[Entry]:
        """Return the entries with this ``change_id`` and/or ``proposal_id`` (at least one), in seq order."""
        if change_id is None and proposal_id is None:
            raise ValueError("entries_for needs change_id or proposal_id")
        stmt = select(_E).order_by(_E.c.seq)
        if change_id is not None:
            stmt = stmt.where(_E.c.change_id == change_id)
        if proposal_id is not None:
            stmt = stmt.where(_E.c.proposal_id == proposal_id)
        return self._entries(stmt)

    def query(self, *, kinds: Iterable[str] | None = None, actor: str | None = None,
              use_case: str | None = None, object: str | None = None,  # noqa: A002 - column name
              record_id: str | None = None, since: str | datetime | None = None,
              until: str | datetime | None = None, start: int = 1, limit: int | None = None) -> list[Entry]:
        """Return entries matching every given filter, in seq order from ``start``.

        ``since`` is inclusive and ``until`` exclusive (ISO strings as stored, or aware datetimes).
        """
        stmt = select(_E).where(_E.c.seq >= start).order_by(_E.c.seq)
        if kinds is not None:
            stmt = stmt.where(_E.c.kind.in_(list(kinds)))
        for name, value in (("actor", actor), ("use_case", use_case), ("object", object),
                            ("record_id", record_id)):
            if value is not None:
                stmt = stmt.where(_E.c[name] == value)
        if since is not None:
            stmt = stmt.where(_E.c.ts >= _ts_arg(since))
        if until is not None:
            stmt = stmt.where(_E.c.ts < _ts_arg(until))
        if limit is not None:
            stmt = stmt.limit(limit)
        return self._entries(stmt)

    def head(self) -> tuple[int, str]:
        """Return ``(seq, hash)`` of the last entry, ``(0, GENESIS)`` when the trail is empty."""
        with self._reading() as conn:
            row = conn.execute(select(_H.c.seq, _H.c.hash).where(_H.c.id == 1)).first()
        if row is None:
            raise TrailStoreError("the trail head row is missing; run the trail verifier")
        return int(row[0]), row[1]

    def count(self) -> int:
        """Return the number of stored entries."""
        with self._reading() as conn:
            return int(conn.execute(select(func.count()).select_from(_E)).scalar_one())

    def checkpoints(self, start: int = 1, limit: int = 1000) -> list[Checkpoint]:
        """Return up to ``limit`` checkpoints with ``seq >= start``, in seq order."""
        with self._reading() as conn:
            rows = conn.execute(select(_C).where(_C.c.seq >= start).order_by(_C.c.seq).limit(limit))
            return [row_to_checkpoint(row) for row in rows]

    @contextmanager
    def scan(self, page: int = 5000) -> Iterator[TrailScan]:
        """Open one consistent read snapshot for streaming raw rows (verifier, exports). On
        PostgreSQL it is taken when no append is between its entries and its checkpoint (see
        :mod:`crmgate.trail.pgappend`), so a live trail verifies without an unsigned tail."""
        with self._reading(snapshot=True) as conn:
            yield TrailScan(conn, page)
