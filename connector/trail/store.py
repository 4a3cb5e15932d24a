"""The trail store: an append-only, hash-chained, checkpoint-signed log in one SQL database.

Contract:

* :meth:`TrailStore.append` writes a batch in ONE transaction: it serialises the entries' bodies,
  then locks the head row, gives the entries the next gap-free sequence numbers and one timestamp
  from the clock, chains their hashes, inserts them, stores one checkpoint of the new head signed
  by the trail key, moves the head and commits. The caller's ``also(conn, entries)`` runs in the
  same transaction BEFORE the head is locked (``entries``: the NewEntry items, not numbered yet),
  so its rows and row locks never lengthen the section every writer queues for. Any failure
  leaves nothing. The head row is the last lock an append takes.
* The entries ``append`` returns share ``data`` with the NewEntry when it was already plain JSON
  (no copy is made); treat both as read-only.
* Readers page by ``seq`` with ``(start, limit)`` (:mod:`crmgate.trail.reading`).
* Durability: ``append`` returns once the batch is on disk (SQLite: the WAL flushed; PostgreSQL:
  the WAL flushed by a synchronous commit), unless called with ``durable=False``: then it returns
  once committed (readers see it, a crash of this process keeps it) but a power loss, an OS crash
  or (PostgreSQL) a database server crash may lose it, with any later non-durable appends (never a
  durable append that followed it: each flush covers every commit before it, so what survives is
  always a prefix).
  Use it only for entries whose loss something else repairs, e.g. write results (their intent,
  durable before the CRM call, is left without a result and reconcile resolves it).
* Driver errors surface as :class:`TrailStoreError` (chained); errors raised by ``also`` and
  invalid entry data (``ValueError``/``TypeError``) propagate unchanged.
* ``engine`` is public so other modules can keep their tables in the same database.
"""
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from operator import attrgetter
from pathlib import Path
from time import perf_counter
from typing import Any

import structlog
from sqlalchemy import Connection, insert, inspect, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from crmgate.trail import schema
from crmgate.trail.canonical import (
    GENESIS,
    NOT_PLAIN,
    PLAIN,
    checkpoint_message,
    entry_hash,
    plain_kind,
    splice_body,
    split_body,
    to_jsonable,
)
from crmgate.trail.engine import KeptConnections, flush_file, is_sqlite, make_engine, schema_transaction
from crmgate.trail.errors import TrailStoreError
from crmgate.trail.keys import TrailSigner
from crmgate.trail.lockstats import LockStats
from crmgate.trail.reading import TrailReader, format_ts
from crmgate.trail.records import ID_FIELDS, Entry, NewEntry

log = structlog.get_logger("crmgate.trail")

Clock = Callable[[], datetime]
AlsoHook = Callable[[Connection, list[NewEntry]], None]
BuildHook = Callable[[Connection], Sequence[NewEntry]]

_E, _C, _H = schema.entries, schema.checkpoints, schema.head
#: the columns of an entry row as ``_chain`` builds it
_ROW = ("seq", "ts", "kind", *ID_FIELDS, "body", "prev_hash", "hash")
_SQLITE_INSERT = f"INSERT INTO {_E.name} ({', '.join(_ROW)}) VALUES ({', '.join('?' for _ in _ROW)})"
_ids = attrgetter(*ID_FIELDS)
_CP = ("seq", "head_hash", "ts", "key_id", "signature")
# Per-append statements go straight to the driver, inside the transaction SQLAlchemy began (on
# SQLite, BEGIN IMMEDIATE took the lock): SQLAlchemy's execution machinery cost ~50 us a statement,
# more than the database's work.
_PG_HEAD_LOCK = f"SELECT seq, hash FROM {_H.name} WHERE id = 1 FOR UPDATE"
_SQLITE_HEAD = f"SELECT seq, hash FROM {_H.name} WHERE id = 1"
_SQLITE_CHECKPOINT = f"INSERT INTO {_C.name} ({', '.join(_CP)}) VALUES (?, ?, ?, ?, ?)"
_SQLITE_MOVE_HEAD = f"UPDATE {_H.name} SET seq = ?, hash = ? WHERE id = 1"
_DEBUG = logging.getLogger("crmgate.trail")
_PG_ROW = "(" + ", ".join(["%s"] * len(_ROW)) + ")"
_PG_COPY_FROM = 8  # more entries than this go by COPY, a fraction of a multi-row INSERT's cost


def _write_pg(raw: Any, rows: list[tuple[Any, ...]], checkpoint: tuple[Any, ...]) -> None:
    """Insert the entries, the checkpoint and the new head and COMMIT, on the driver's connection
    ``raw``, in as few round trips as possible: each one under the head lock costs every other
    worker as much as the work itself, and more when the holder is descheduled between two of them
    (four workers on two cores). A few entries ride in the one statement that also writes the
    checkpoint and the head; more go first by COPY. That statement and the COMMIT go in one
    pipeline (one round trip), with synchronous_commit off for this transaction: the commit
    releases the head lock without waiting for the WAL flush (``_flush`` waits for it after, when
    the append is durable)."""
    cols = ", ".join(_ROW)
    with raw.cursor() as cur:
        if len(rows) > _PG_COPY_FROM:
            with cur.copy(f"COPY {_E.name} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            rows = []
        values = [v for r in rows for v in r]
        entries = f"e AS (INSERT INTO {_E.name} ({cols}) VALUES {', '.join([_PG_ROW] * len(rows))}), " if rows else ""
        with raw.pipeline():
            cur.execute("SET LOCAL synchronous_commit = off")
            cur.execute(f"WITH {entries}c AS (INSERT INTO {_C.name} ({', '.join(_CP)}) VALUES (%s, %s, %s, %s, %s)) "
                        f"UPDATE {_H.name} SET seq = %s, hash = %s WHERE id = 1",
                        (*values, *checkpoint, checkpoint[0], checkpoint[1]))
            raw.commit()


_CATEGORIES = ("IntegrityError", "OperationalError", "ProgrammingError", "DataError", "InternalError",
               "NotSupportedError", "InterfaceError", "DatabaseError")


def _category(exc: BaseException) -> str:
    """The DB-API category of a driver error (psycopg raises e.g. UniqueViolation, an
    IntegrityError), as SQLAlchemy names it, so messages do not depend on the path taken."""
    return next((c.__name__ for c in type(exc).__mro__ if c.__name__ in _CATEGORIES), type(exc).__name__)


class TrailStore(TrailReader):
    """The change trail on SQLite (``sqlite:///path``, ``sqlite://``) or PostgreSQL (by URL).

    Tables are created when missing; with ``create=False`` (e.g. for ``trail verify``) a database
    without a trail raises :class:`TrailStoreError` instead, so a mistyped URL is not reported as
    an empty, valid trail.
    """

    def __init__(self, url: str, *, signer: TrailSigner | None = None, clock: Clock | None = None,
                 echo: bool = False, create: bool = True) -> None:
        self._signer = signer
        self._clock = clock
        self.lock_stats = LockStats()
        try:
            self.engine = make_engine(url, echo=echo, flush=self._flush_wal)
        except (SQLAlchemyError, ValueError) as exc:  # unparsable URL, unknown or missing driver
            raise TrailStoreError(f"cannot open the trail store: {type(exc).__name__}") from exc
        self._sqlite = is_sqlite(self.engine)
        self._writers = KeptConnections(self.engine)
        database = self.engine.url.database
        if not create and self._sqlite and database not in (None, "", ":memory:") and not Path(database).exists():
            self.engine.dispose()
            raise TrailStoreError(f"no trail database at {database}")
        try:
            if create:
                self._create_schema()
            elif not inspect(self.engine).has_table(_H.name):
                self.engine.dispose()
                raise TrailStoreError("this database holds no trail (trail_head table missing)")
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise TrailStoreError(f"cannot open the trail store: {type(exc).__name__}: {exc.orig or exc}"
                                  if isinstance(exc, DBAPIError) else
                                  f"cannot open the trail store: {type(exc).__name__}") from exc

    def __repr__(self) -> str:
        return f"TrailStore({self.engine.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> TrailStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release all pooled connections."""
        self._writers.close()
        self.engine.dispose()

    # -- setup -------------------------------------------------------------------------------

    def _create_schema(self) -> None:
        with schema_transaction(self.engine) as conn:
            schema.metadata.create_all(conn)
            if conn.execute(select(_H.c.id).where(_H.c.id == 1)).first() is None:
                conn.execute(insert(_H).values(id=1, seq=0, hash=GENESIS))

    def _now(self) -> str:
        return format_ts(self._clock() if self._clock is not None else datetime.now(timezone.utc))

    # -- writing -----------------------------------------------------------------------------

    def _flush_wal(self, path: str) -> None:
        self.lock_stats.flushes += 1
        flush_file(path)

    def append(self, entries: Sequence[NewEntry] | BuildHook, *, also: AlsoHook | None = None,
               durable: bool = True) -> list[Entry]:
        """Append ``entries`` as one signed batch and return them as committed (see module docs).

        ``durable=False``: return without waiting for the disk (see the module docstring for what
        a power loss may then take); for appends whose loss reconcile repairs, never for one an
        action outside the trail (a CRM call) will rely on.

        ``entries`` may instead be a callable ``build(conn) -> entries``, run inside the transaction
        BEFORE the head is locked: state that must change atomically with the trail (routing pool
        cursors, idempotency claims) is locked, decided and written there under its own row locks,
        which are held to the commit. The head row is always the last lock an append takes, so
        writers that share no pool and no key only queue for the short section described below.

        ``also(conn, entries)`` runs after ``build`` (with the NewEntry items it returned), still
        before the head lock; not at all when there is nothing to append.

        Under the head lock: sequence numbers, the timestamp, the hash links, the inserts, the
        checkpoint, the head update and the commit. Entry bodies are serialised before it
        (``split_body``).
        """
        if self._signer is None:
            raise TrailStoreError("this trail store has no signer; appending needs the trail private key")
        build = entries if callable(entries) else None
        if build is None:
            if not entries:
                return []
            datas, parts = self._prepare(entries)  # type: ignore[arg-type]  # reject bad data before locking
        in_hook = False
        out: list[Entry] = []
        try:
            with self._writers.begin() as conn:
                if build is not None:
                    in_hook = True
                    entries = list(build(conn))
                    in_hook = False
                    datas, parts = self._prepare(entries)
                if entries and also is not None:
                    in_hook = True
                    also(conn, list(entries))  # type: ignore[arg-type]
                    in_hook = False
                if entries:
                    asked = perf_counter()
                    raw = conn.connection.driver_connection
                    if self._sqlite:
                        seq, prev = raw.execute(_SQLITE_HEAD).fetchone()
                    else:
                        with raw.cursor() as cur:
                            seq, prev = cur.execute(_PG_HEAD_LOCK).fetchone()
                    locked = perf_counter()
                    ts = self._now()
                    out, rows = self._chain(entries, datas, parts, int(seq), prev, ts)  # type: ignore[arg-type]
                    last = out[-1]
                    message = checkpoint_message(last.seq, last.hash, ts, self._signer.key_id)
                    checkpoint = (last.seq, last.hash, ts, self._signer.key_id, self._signer.sign(message))
                    if self._sqlite:
                        raw.executemany(_SQLITE_INSERT, rows)
                        raw.execute(_SQLITE_CHECKPOINT, checkpoint)
                        raw.execute(_SQLITE_MOVE_HEAD, (last.seq, last.hash))
                        if not durable and hasattr(raw, "skip_flush"):  # a file (memory has no flush)
                            raw.skip_flush()
                    else:
                        _write_pg(raw, rows, checkpoint)
            if out:
                self.lock_stats.add(locked - asked, perf_counter() - locked)
            if out and durable and not self._sqlite:
                self._flush()
        except (SQLAlchemyError, sqlite3.Error, self.engine.dialect.loaded_dbapi.Error) as exc:
            if in_hook:
                raise
            raise TrailStoreError(f"appending to the trail failed: {_category(exc)}") from exc
        if not out:
            return []
        if _DEBUG.isEnabledFor(logging.DEBUG):  # structlog's lazy proxy binds and renders per call: ~45 us
            log.debug("trail.appended", first_seq=out[0].seq, last_seq=out[-1].seq)
        return out

    def _flush(self) -> None:
        """Return once the last append is durable. A transaction committed with synchronous_commit
        off is flushed by any later synchronous commit (WAL is flushed in order), so this commits
        one with a transaction id of its own (nothing else is written) under the server's own
        durability setting. Many workers' flushes share one fsync; none holds the head lock."""
        with self._writers.begin() as conn:
            raw = conn.connection.driver_connection
            with raw.pipeline():  # BEGIN, the statement and COMMIT in one round trip
                raw.execute("SELECT txid_current()")
                raw.commit()
        self.lock_stats.flushes += 1

    @staticmethod
    def _prepare(entries: Sequence[NewEntry]) -> tuple[list[Any], list[tuple[str, str]]]:
        """Each entry's data as plain JSON and its body without ``seq`` and ``ts``, cut where they
        go (before the head lock). Data that is already plain JSON is used as is (checked once, in
        the walk that also tells whether it holds floats): a copy of every batch's data was ~15%
        of an append, mostly in the garbage collections its surviving containers set off."""
        datas: list[Any] = []
        parts: list[tuple[str, str]] = []
        for item in entries:
            if not isinstance(item, NewEntry):
                raise TypeError(f"append takes NewEntry items, got {type(item).__name__}")
            data = item.data
            kind = plain_kind(data)
            if kind == NOT_PLAIN:
                data = to_jsonable(data)
            datas.append(data)
            parts.append(split_body(dict(zip(ID_FIELDS, _ids(item)), kind=item.kind, data=data),
                                    floats=kind != PLAIN))
        return datas, parts

    @staticmethod
    def _chain(entries: Sequence[NewEntry], datas: list[Any], parts: list[tuple[str, str]], head_seq: int,
               prev: str, ts: str) -> tuple[list[Entry], list[tuple[Any, ...]]]:
        """The committed entries and their rows (values in ``_ROW`` column order): the bodies are
        spliced and hashed, the only per-entry work done under the head lock."""
        out: list[Entry] = []
        rows: list[tuple[Any, ...]] = []
        seq = head_seq
        for item, data, (before, after) in zip(entries, datas, parts, strict=True):
            seq += 1
            ids = _ids(item)
            body = splice_body(before, after, seq, ts)
            digest = entry_hash(prev, body)
            out.append(Entry(seq, ts, item.kind, *ids, data, prev, digest))
            rows.append((seq, ts, item.kind, *ids, body, prev, digest))
            prev = digest
        return out, rows
