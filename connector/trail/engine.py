"""Engine construction for the trail: URL normalisation and SQLite locking behaviour.

* ``postgresql://`` and ``postgres://`` URLs use the psycopg 3 driver (``postgresql+psycopg://``).
  A pooled connection that sat idle longer than ``ping_after_idle`` seconds is pinged before use
  (and replaced if the server dropped it, e.g. across a restart); a busy connection is not: a ping
  on every checkout (``pool_pre_ping``) was one extra round trip per transaction, six per HTTP
  proposal. A connection that dies while in use fails that call, and the pool reconnects.
* On SQLite every transaction starts with ``BEGIN IMMEDIATE`` (the write lock is taken up front,
  so two appenders can never read the same head) and waits up to ``busy_timeout`` seconds for it:
  behind the file's other writers in this process on a lock that wakes the next one at once (held
  from BEGIN to COMMIT or ROLLBACK, never across the flush below), then on SQLite's own lock for
  writers in other processes.
  A connection whose execution options carry ``trail_sqlite_begin="DEFERRED"`` starts a plain
  read transaction instead. File databases use WAL so readers do not block the writer.
* A commit on a SQLite file returns once it is on disk, as with ``synchronous = FULL``, but the
  write lock is not held across the disk flush: the commit itself only appends to the WAL
  (``synchronous = NORMAL``), then the connection flushes the WAL (``fdatasync``) after releasing
  the lock, so the next writer goes in while this one waits for the disk, and flushes that overlap
  share the disk's work. Durability is kept: the flush covers every WAL write made before it, this
  commit's included, and nothing acts on the commit before ``commit()`` returns. (PostgreSQL does
  the same with ``synchronous_commit = off`` and a flush, see :mod:`crmgate.trail.store`.) A store
  made with ``durable=False`` (the budget file) skips the flush and the fsyncs altogether; one
  transaction can skip it with :meth:`FlushedCommits.skip_flush` (a trail append that durability
  does not need, see :meth:`crmgate.trail.store.TrailStore.append`).
* ``sqlite://`` (memory) shares one connection across the engine; it is for tests only.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from time import monotonic, sleep
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import StaticPool

BEGIN_OPTION = "trail_sqlite_begin"


def normalise_url(url: str) -> URL:
    """Parse ``url`` and map plain PostgreSQL URLs to the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
            break
    return make_url(url)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _enable_wal(cursor: Any, busy_timeout: float) -> bool:
    """Switch a SQLite file to WAL; whether it is in WAL now (a file system without shared memory
    keeps the rollback journal, and its commits stay fully synchronous). The switch can fail with
    "locked" without waiting on the busy handler while other connections are opening the same new
    file, so retry until the timeout."""
    deadline = monotonic() + busy_timeout
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                return str(cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower() == "wal"
            return True
        except sqlite3.OperationalError:
            if monotonic() > deadline:
                raise
            sleep(0.01)


_WRITERS: dict[str, threading.Lock] = {}  # per database file: this process's writers queue here
_WRITERS_GUARD = threading.Lock()


def _writers(path: str) -> threading.Lock:
    with _WRITERS_GUARD:
        return _WRITERS.setdefault(path, threading.Lock())


class FlushedCommits(sqlite3.Connection):
    """A SQLite connection to a file whose write transactions queue on the file's in-process lock
    (``writers``) and whose ``commit`` flushes the WAL at ``wal_path`` (when set) after the COMMIT
    has released the write lock (see the module docstring)."""

    wal_path = ""
    flush: Callable[[str], None] = staticmethod(lambda path: flush_file(path))
    writers: threading.Lock | None = None
    _holding = False
    #: False for the transaction in progress only: its commit is not flushed (see :meth:`skip_flush`)
    _flush_commit = True

    def skip_flush(self) -> None:
        """Commit the transaction in progress without flushing the WAL: it survives a crash of the
        process (the WAL is written) but not a power loss, until the next flushed commit or the
        WAL's own checkpoint syncs it. Later transactions are flushed again."""
        self._flush_commit = False

    def begin_immediate(self, timeout: float) -> None:
        """``BEGIN IMMEDIATE`` once this process's other writers of the file are done: they wait
        here, woken as soon as it is free, instead of in SQLite's busy handler, which polls with
        sleeps of 1 to 100 ms. Other processes still meet SQLite's own lock and busy handler."""
        if self.writers is not None:
            if not self.writers.acquire(timeout=timeout):
                raise sqlite3.OperationalError("database is locked (by another writer of this process)")
            self._holding = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        if self._holding and not self.in_transaction:
            self._holding = False
            self.writers.release()  # type: ignore[union-attr]

    def commit(self) -> None:
        open_before, flush = self.in_transaction, self._flush_commit
        self._flush_commit = True
        try:
            super().commit()
        finally:
            self._release()
        if open_before and flush and self.wal_path:
            self.flush(self.wal_path)

    def rollback(self) -> None:
        self._flush_commit = True
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._holding:
                self._holding = False
                self.writers.release()  # type: ignore[union-attr]


def flush_file(path: str) -> None:
    """``fdatasync`` the file at ``path``: every write made to it before this call, by any process,
    is then on disk. A missing WAL has nothing left to flush: the last connection to close a
    database checkpoints its WAL into it (synced) before removing the file."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def _pinged_when_idle(engine: Engine, after: float) -> Engine:
    """Ping a pooled connection idle for more than ``after`` seconds before handing it out."""

    @event.listens_for(engine, "checkin")
    def _idle_since(_dbapi_connection: Any, record: Any) -> None:
        record.info["crmgate_idle_since"] = monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("crmgate_idle_since", None)
        if since is None or monotonic() - since <= after:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"a pooled connection idle for {monotonic() - since:.0f} s is gone") from exc

    return engine


SCHEMA_LOCK_KEY = 0x7472_6169_6C00  # one advisory lock for every crmgate table creation on PostgreSQL


@contextmanager
def schema_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction for CREATE TABLE that several workers may run at once: PostgreSQL's catalog
    races on concurrent creation, so it is serialised with an advisory lock; SQLite serialises
    writers itself."""
    with engine.begin() as conn:
        if not is_sqlite(engine):
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK_KEY})
        yield conn


PING_AFTER_IDLE = 1.0  # seconds


def make_engine(url: str, *, echo: bool = False, busy_timeout: float = 30.0, durable: bool = True,
                flush: Callable[[str], None] | None = None, ping_after_idle: float = PING_AFTER_IDLE) -> Engine:
    """Create the engine for ``url`` with the locking and flushing described in the module docstring;
    ``durable=False``: commits to a SQLite file are never flushed (for data a crash may lose).
    ``flush(wal_path)`` replaces :func:`flush_file` (tests watch it)."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() != "sqlite":
        return _pinged_when_idle(create_engine(parsed, echo=echo), ping_after_idle)
    memory = parsed.database in (None, "", ":memory:")
    connect_args: dict[str, Any] = {"timeout": busy_timeout, "check_same_thread": False}
    kwargs: dict[str, Any] = {"connect_args": connect_args}
    if memory:
        kwargs["poolclass"] = StaticPool
    else:
        connect_args["factory"] = FlushedCommits
    path = "" if memory else os.path.abspath(str(parsed.database))
    engine = create_engine(parsed, echo=echo, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if not memory and _enable_wal(cursor, busy_timeout):
                # the commit appends to the WAL; FlushedCommits flushes it once the lock is released
                cursor.execute(f"PRAGMA synchronous = {'NORMAL' if durable else 'OFF'}")
                if durable:
                    dbapi_connection.wal_path = path + "-wal"
                    if flush is not None:
                        dbapi_connection.flush = flush
        finally:
            cursor.close()
        if not memory:
            dbapi_connection.writers = _writers(path)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(BEGIN_OPTION, "IMMEDIATE") == "DEFERRED":
            conn.exec_driver_sql("BEGIN DEFERRED")
        elif memory:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.connection.dbapi_connection.begin_immediate(busy_timeout)  # type: ignore[union-attr]

    return engine


class KeptConnections:
    """Transactions on connections kept open between them (up to ``keep`` idle ones).

    Checking a connection out of SQLAlchemy's pool and back in (events, the reset on return, a new
    ``Connection``) cost ~60 us per transaction, more than a small append's own work. A connection
    whose transaction failed goes back to the pool (which resets or discards it) rather than being
    kept; one kept idle longer than ``ping_after_idle`` seconds is pinged first on PostgreSQL, as
    the pool does (see the module docstring), and replaced if the server dropped it.
    """

    def __init__(self, engine: Engine, *, keep: int = 4, ping_after_idle: float = PING_AFTER_IDLE) -> None:
        self._engine = engine
        self._keep = keep
        self._ping_after = None if is_sqlite(engine) else ping_after_idle
        self._idle: list[tuple[Connection, float]] = []  # list.append/pop are atomic: no lock needed
        self._closed = False

    def _take(self) -> Connection:
        try:
            conn, since = self._idle.pop()
        except IndexError:
            return self._engine.connect()
        if self._ping_after is not None and monotonic() - since > self._ping_after:
            try:
                self._engine.dialect.do_ping(conn.connection.dbapi_connection)
            except self._engine.dialect.loaded_dbapi.Error:
                conn.invalidate()  # the next statement reconnects through the pool
        return conn

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """``engine.begin()`` on a kept connection: commit on success, roll back on error."""
        conn = self._take()
        try:
            with conn.begin():
                yield conn
        except BaseException:
            conn.close()
            raise
        if self._closed or len(self._idle) >= self._keep:
            conn.close()
        else:
            self._idle.append((conn, monotonic()))

    def close(self) -> None:
        """Return every idle connection to the pool; connections in use are returned when done."""
        self._closed = True
        while self._idle:
            self._idle.pop()[0].close()
