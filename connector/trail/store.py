"""The trail store: an append-only, hash-chained, checkpoint-signed log in one SQL database.

Contract:

* :meth:`TrailStore.append` writes a batch in ONE transaction: it serialises the entries' bodies,
  then locks the head row, gives the entries the next gap-free sequence numbers and one timestamp
  from the clock, chains their hashes, inserts them, stores one checkpoint of the new head signed
  by the trail key, moves the head and commits. The caller's ``also(conn, entries)`` runs in the
  same transaction BEFORE the head is locked (``entries``: the NewEntry items, not numbered yet),
  so its rows and row locks never lengthen the section every writer queues for. Any failure
  leaves nothing, except on PostgreSQL after the entries' commit: there the section under the head
  lock is one server-side call and its COMMIT (:mod:`crmgate.trail.pgappend`), and the checkpoint
  is signed after it and committed by a second transaction; if that fails (or the process dies
  first) the append raises but its entries stay, unsigned (``trail verify``: ``unsigned_tail``)
  until the next append's checkpoint signs a head that chains through them. Readers' snapshots
  (:meth:`scan`) never fall between the two commits. The head row is the last lock an append
  takes.
* ``append(..., seal=False)`` writes no checkpoint: the batch stays unsigned (``unsigned_tail``)
  until a later sealed append or :meth:`TrailStore.seal` signs a head that chains through it, so
  an intent and its result appended in one call cost one signature (see :meth:`append`).
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
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from operator import attrgetter
from pathlib import Path
from time import perf_counter
from typing import Any

import structlog
from sqlalchemy import Connection, insert, inspect, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from crmgate.trail import schema, sealing
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
from crmgate.trail.pgappend import append_rows, ensure_function, write_checkpoint
from crmgate.trail.reading import TrailReader, format_ts
from crmgate.trail.records import ID_FIELDS, Entry, NewEntry

log = structlog.get_logger("crmgate.trail")

Clock = Callable[[], datetime]
AlsoHook = Callable[[Connection, list[NewEntry]], None]
BuildHook = Callable[[Connection], Sequence[NewEntry]]
#: ``seal`` of :meth:`TrailStore.append`: a flag, or a function of the batch's entries
Seal = bool | Callable[[Sequence[NewEntry]], bool]

_E, _C, _H = schema.entries, schema.checkpoints, schema.head
#: the columns of an entry row as ``_chain`` builds it
_ROW = ("seq", "ts", "kind", *ID_FIELDS, "body", "prev_hash", "hash")
_SQLITE_INSERT = f"INSERT INTO {_E.name} ({', '.join(_ROW)}) VALUES ({', '.join('?' for _ in _ROW)})"
_ids = attrgetter(*ID_FIELDS)
_CP = ("seq", "head_hash", "ts", "key_id", "signature")
# Per-append statements go straight to the driver, inside the transaction SQLAlchemy began (on
# SQLite, BEGIN IMMEDIATE took the lock): SQLAlchemy's execution machinery cost ~50 us a statement,
# more than the database's work.
_SQLITE_HEAD = f"SELECT seq, hash FROM {_H.name} WHERE id = 1"
_SQLITE_CHECKPOINT = f"INSERT INTO {_C.name} ({', '.join(_CP)}) VALUES (?, ?, ?, ?, ?)"
_SQLITE_MOVE_HEAD = f"UPDATE {_H.name} SET seq = ?, hash = ? WHERE id = 1"
_DEBUG = logging.getLogger("crmgate.trail")


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
        self._seals = threading.Lock()
        self._unsealed_seq = 0  # the last seq this store appended unsigned (seal=False) ...
        self._sealed_seq = 0  # ... and the last it signed: a checkpoint there covers every seq before
        self.lock_stats = LockStats()
        try:
            self.engine = make_engine(url, echo=echo, flush=self._flush_wal)
        except (SQLAlchemyError, ValueError) as exc:  # unparsable URL, unknown or missing driver
            raise TrailStoreError(f"cannot open the trail store: {type(exc).__name__}") from exc
        self._sqlite = is_sqlite(self.engine)
        database = self.engine.url.database
        # resolved now, as the engine's connections resolve it (a later chdir changes neither)
        on_file = self._sqlite and database not in (None, "", ":memory:")
        self._wal = os.path.abspath(str(database)) + "-wal" if on_file else ""
        self._writers = KeptConnections(self.engine)
        if not create and on_file and not Path(database).exists():
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
            for name in schema.DROPPED:  # an older trail's: replaced by the ones created here
                conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
            for index in _E.indexes:  # create_all adds none to a table that exists
                index.create(conn, checkfirst=True)
            if conn.execute(select(_H.c.id).where(_H.c.id == 1)).first() is None:
                conn.execute(insert(_H).values(id=1, seq=0, hash=GENESIS))
            if not self._sqlite:
                ensure_function(conn.connection.driver_connection)

    def _now(self) -> str:
        return format_ts(self._clock() if self._clock is not None else datetime.now(timezone.utc))

    # -- writing -----------------------------------------------------------------------------

    def _flush_wal(self, path: str) -> None:
        self.lock_stats.flushes += 1
        flush_file(path)

    def sync(self) -> None:
        """Return once every append committed to this store's database before the call (by any
        process) is on disk: the wait a ``durable=False`` append skipped, e.g. made by the worker
        that will act on it (a pipelined chunk's, before its CRM call). SQLite: the WAL flushed (a
        WAL that is gone was checkpointed into the synced database; memory has nothing to flush).
        PostgreSQL: a commit with a transaction id under the server's durability setting, which
        flushes the WAL up to it and so every earlier commit. Counted in ``lock_stats.flushes``."""
        try:
            if self._sqlite:
                if self._wal:
                    self._flush_wal(self._wal)
                return
            with self._writers.begin() as conn:
                conn.exec_driver_sql("SELECT txid_current()")
            self.lock_stats.flushes += 1
        except (SQLAlchemyError, OSError) as exc:
            raise TrailStoreError(f"flushing the trail failed: {type(exc).__name__}") from exc

    def append(self, entries: Sequence[NewEntry] | BuildHook, *, also: AlsoHook | None = None,
               durable: bool = True, seal: Seal = True) -> list[Entry]:
        """Append ``entries`` as one signed batch and return them as committed (see module docs).

        ``durable=False``: return without waiting for the disk (see the module docstring for what
        a power loss may then take); for appends whose loss reconcile repairs, never for one an
        action outside the trail (a CRM call) will rely on.

        ``seal=False`` (or a function of the batch's entries returning False): no checkpoint for
        this batch; it is committed (and durable) as ever, but unsigned until the next sealed
        append, whose checkpoint signs a head that chains through it, or :meth:`seal`. For a
        caller that appends again soon in the same call (a write's intent, then its result): one
        signature instead of two. Meanwhile ``trail verify`` reports the batch as
        ``unsigned_tail``, as it does after a crash before that next append (never as valid).

        ``entries`` may instead be a callable ``build(conn) -> entries``, run inside the transaction
        BEFORE the head is locked: state that must change atomically with the trail (routing pool
        cursors, idempotency claims) is locked, decided and written there under its own row locks,
        which are held to the commit. The head row is always the last lock an append takes, so
        writers that share no pool and no key only queue for the short section described below.

        ``also(conn, entries)`` runs after ``build`` (with the NewEntry items it returned), still
        before the head lock; not at all when there is nothing to append.

        Under the head lock: sequence numbers, the timestamp, the hash links, the inserts, the
        head update and the commit, and on SQLite the checkpoint (on PostgreSQL it follows the
        commit, see the module docstring). Entry bodies are serialised before it (``split_body``).
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
                if entries and not isinstance(seal, bool):
                    seal = bool(seal(entries))  # type: ignore[arg-type]
                if entries and self._sqlite:
                    asked = perf_counter()
                    raw = conn.connection.driver_connection
                    seq, prev = raw.execute(_SQLITE_HEAD).fetchone()
                    locked = perf_counter()
                    ts = self._now()
                    out, rows = self._chain(entries, datas, parts, int(seq), prev, ts)  # type: ignore[arg-type]
                    raw.executemany(_SQLITE_INSERT, rows)
                    if seal:
                        raw.execute(_SQLITE_CHECKPOINT, self._checkpoint(out[-1].seq, out[-1].hash, ts))
                    raw.execute(_SQLITE_MOVE_HEAD, (out[-1].seq, out[-1].hash))
                    if not durable and hasattr(raw, "skip_flush"):  # a file (memory has no flush)
                        raw.skip_flush()
                elif entries:
                    out = self._append_pg(conn, entries, datas, parts, durable, bool(seal))  # type: ignore[arg-type]
            if out and self._sqlite:
                self.lock_stats.add(locked - asked, perf_counter() - locked)
        except (SQLAlchemyError, sqlite3.Error, self.engine.dialect.loaded_dbapi.Error) as exc:
            if in_hook:
                raise
            raise TrailStoreError(f"appending to the trail failed: {_category(exc)}") from exc
        if not out:
            return []
        self._signed(out[-1].seq, bool(seal))
        if _DEBUG.isEnabledFor(logging.DEBUG):  # structlog's lazy proxy binds and renders per call: ~45 us
            log.debug("trail.appended", first_seq=out[0].seq, last_seq=out[-1].seq)
        return out

    def _checkpoint(self, seq: int, head_hash: str, ts: str) -> tuple[Any, ...]:
        """The checkpoint row (``_CP`` order) signing ``seq``/``head_hash`` as the head."""
        key_id = self._signer.key_id  # type: ignore[union-attr]
        message = checkpoint_message(seq, head_hash, ts, key_id)
        return (seq, head_hash, ts, key_id, self._signer.sign(message))  # type: ignore[union-attr]

    def _signed(self, seq: int, sealed: bool) -> None:
        with self._seals:
            if sealed:
                self._sealed_seq = max(self._sealed_seq, seq)
            else:
                self._unsealed_seq = max(self._unsealed_seq, seq)

    @property
    def unsealed(self) -> bool:
        """True while entries this store appended with ``seal=False`` are not yet covered by a
        checkpoint it wrote (another store's checkpoint may cover them: :meth:`seal` looks)."""
        with self._seals:
            return self._unsealed_seq > self._sealed_seq

    def seal(self) -> int | None:
        """Sign the trail's head unless a checkpoint already covers it: entries appended with
        ``seal=False`` (by this store, or by a process that died before its next append) are then
        covered. Returns the seq signed, or None when there was nothing to sign. Durable."""
        if self._signer is None:
            raise TrailStoreError("this trail store has no signer; sealing needs the trail private key")
        try:
            sign = lambda seq, head_hash: self._checkpoint(seq, head_hash, self._now())  # noqa: E731
            signed = sealing.seal_sqlite(self._writers, sign) if self._sqlite else sealing.seal_pg(self.engine, sign)
        except (SQLAlchemyError, sqlite3.Error, self.engine.dialect.loaded_dbapi.Error) as exc:
            raise TrailStoreError(f"sealing the trail failed: {_category(exc)}") from exc
        if signed is not None:
            self._signed(signed, True)
        return signed

    def _append_pg(self, conn: Connection, entries: Sequence[NewEntry], datas: list[Any],
                   parts: list[tuple[str, str]], durable: bool, seal: bool) -> list[Entry]:
        """The PostgreSQL append (:mod:`crmgate.trail.pgappend`): one round trip holds the head
        lock; the checkpoint is signed after it and committed in a second transaction, the one
        that waits for the disk when ``durable``. A failure after the first commit drops the
        connection, so its session's advisory lock cannot outlive it."""
        raw = conn.connection.driver_connection
        ids = [list(column) for column in zip(*map(_ids, entries))]
        try:
            seq, prev, ts, hashes, waited, held = append_rows(raw, self._now(), [e.kind for e in entries], ids, parts)
            out: list[Entry] = []
            for item, data, digest in zip(entries, datas, hashes, strict=True):
                seq += 1
                out.append(Entry(seq, ts, item.kind, *_ids(item), data, prev, digest))
                prev = digest
            if seal:
                write_checkpoint(raw, self._checkpoint(out[-1].seq, out[-1].hash, ts), durable)
            else:
                sealing.leave_unsealed_pg(raw, durable)
        except BaseException:
            conn.invalidate()
            raise
        self.lock_stats.add(waited, held)
        if durable:
            self.lock_stats.flushes += 1
        return out

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
