"""Engine construction for the trail: URL normalisation and SQLite locking behaviour.

* ``postgresql://`` and ``postgres://`` URLs use the psycopg 3 driver (``postgresql+psycopg://``).
* On SQLite every transaction starts with ``BEGIN IMMEDIATE`` (the write lock is taken up front,
  so two appenders can never read the same head) and waits up to ``busy_timeout`` seconds for it.
  A connection whose execution options carry ``trail_sqlite_begin="DEFERRED"`` starts a plain
  read transaction instead. File databases use WAL so readers do not block the writer.
* ``sqlite://`` (memory) shares one connection across the engine; it is for tests only.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic, sleep
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
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


def _enable_wal(cursor: Any, busy_timeout: float) -> None:
    """Switch a SQLite file to WAL. The switch can fail with "locked" without waiting on the busy
    handler while other connections are opening the same new file, so retry until the timeout."""
    deadline = monotonic() + busy_timeout
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if monotonic() > deadline:
                raise
            sleep(0.01)


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


def make_engine(url: str, *, echo: bool = False, busy_timeout: float = 30.0) -> Engine:
    """Create the engine for ``url`` with the locking behaviour described in the module docstring."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, echo=echo, pool_pre_ping=True)
    memory = parsed.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {"connect_args": {"timeout": busy_timeout, "check_same_thread": False}}
    if memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(parsed, echo=echo, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if not memory:
                _enable_wal(cursor, busy_timeout)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(BEGIN_OPTION, "IMMEDIATE")
        conn.exec_driver_sql("BEGIN DEFERRED" if mode == "DEFERRED" else "BEGIN IMMEDIATE")

    return engine
