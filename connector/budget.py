"""The budget every worker of one store shares: the CRM's rate windows and stops, the server's quotas.

:class:`crmgate.adapters.budget.WindowBudget` counts (``limits``' moving-window strategy); this module
picks where the hits are kept, from ``budget.storage``:

* ``store`` (the default): the trail store's PostgreSQL database (:class:`SqlWindows`: two small
  tables beside the trail's); for a SQLite trail file, a SQLite file beside it (``trail.db.budget``,
  so budget writes never wait for trail appends); an in-memory store keeps them in memory;
* ``memory``: this process only (one worker);
* ``redis://host:port/db``: a Redis server, through ``limits``' Redis storage.

:class:`SqlWindows` is a ``limits`` storage: each hit is a row ``(key, at)``, and each key has a row
``(key, n)`` counting its hit rows, so a full window is not counted row by row on every hit (a
request quota of thousands per minute would make each request scan thousands of index entries).
Taking one is one transaction that drops the key's expired hits (subtracting them from ``n``), and
adds the hit if ``n`` leaves room. On
SQLite the transaction's ``BEGIN IMMEDIATE`` (the file's write lock) serialises the takers, and the
statements go straight to the driver; on PostgreSQL a transaction-scoped advisory lock on the key
does, and other keys do not wait. Either way workers cannot overrun a window together. Reads
(:meth:`SqlWindows.get_moving_window`) take no lock.
"""
from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, Engine, Float, Index, Integer, MetaData, String, Table
from sqlalchemy.exc import DBAPIError, IntegrityError

from crmgate.adapters.budget import TICK, Budget, MovingWindowStorage, WindowBudget
from crmgate.config import Config
from crmgate.trail.engine import BEGIN_OPTION, make_engine

_md = MetaData()
HITS = Table("crmgate_budget_hits", _md, Column("key", String(250), nullable=False),
             Column("at", Float, nullable=False), Index("ix_crmgate_budget_hits", "key", "at"))
#: how many rows of HITS each key has (kept in the same transactions as HITS)
COUNTS = Table("crmgate_budget_counts", _md, Column("key", String(250), primary_key=True),
               Column("n", Integer, nullable=False))
_DROP = "DELETE FROM crmgate_budget_hits WHERE key = ? AND at <= ?"
_COUNT = "SELECT n FROM crmgate_budget_counts WHERE key = ?"
_COUNT_ROWS = "SELECT count(*) FROM crmgate_budget_hits WHERE key = ?"  # a key without a count row yet
_OLDEST = "SELECT min(at) FROM crmgate_budget_hits WHERE key = ? AND at > ?"
_EXPIRED = "SELECT count(*) FROM crmgate_budget_hits WHERE key = ? AND at <= ?"
_ADD = "INSERT INTO crmgate_budget_hits (key, at) VALUES (?, ?)"
_SET_COUNT = ("INSERT INTO crmgate_budget_counts (key, n) VALUES (?, ?) "
              "ON CONFLICT (key) DO UPDATE SET n = excluded.n")
# PostgreSQL: the same in one round trip (the CTEs share one snapshot: neither w nor the last
# SELECT sees the DELETE or the INSERT, hence the subtraction and the filter on at)
_PG_ACQUIRE = (
    "WITH gone AS (DELETE FROM crmgate_budget_hits WHERE key = {k} AND at <= {floor} RETURNING 1), "
    "w AS (SELECT coalesce((SELECT n FROM crmgate_budget_counts WHERE key = {k}) - (SELECT count(*) FROM gone), "
    "(SELECT count(*) FROM crmgate_budget_hits WHERE key = {k} AND at > {floor})) AS n), "
    "ins AS (INSERT INTO crmgate_budget_hits (key, at) SELECT {k}, {now} FROM generate_series(1, {amount}), w "
    "WHERE w.n <= {room} RETURNING 1), "
    "up AS (INSERT INTO crmgate_budget_counts (key, n) SELECT {k}, w.n + (SELECT count(*) FROM ins) FROM w "
    "ON CONFLICT (key) DO UPDATE SET n = excluded.n) "
    "SELECT (SELECT min(at) FROM crmgate_budget_hits WHERE key = {k} AND at > {floor}), w.n, "
    "(SELECT count(*) FROM ins) FROM w")


class SqlWindows(MovingWindowStorage):
    """A ``limits`` moving-window storage in a SQL database (see the module docstring); ``clock`` in ticks."""

    def __init__(self, engine: Engine, clock: Callable[[], float]) -> None:
        super().__init__()
        self.engine, self.clock = engine, clock
        self._made = False  # the tables are made on first use: a setup refused later leaves no file
        self._pg = engine.dialect.name == "postgresql"

    @property
    def base_exceptions(self) -> type[Exception]:
        return DBAPIError

    def _tables(self) -> None:
        if self._made:
            return
        for attempt in range(3):  # several workers may create the tables at once
            try:
                _md.create_all(self.engine)
                break
            except (IntegrityError, DBAPIError):
                if attempt == 2:
                    raise
        self._made = True

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self._pg else statement

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        return self.acquire_counted(key, limit, expiry, amount)[0]

    def acquire_counted(self, key: str, limit: int, expiry: int, amount: int = 1) -> tuple[bool, float, int]:
        """Add ``amount`` hits of ``key`` if they fit in ``limit`` per ``expiry`` ticks; (whether
        they were added, the window's oldest hit, the hits in it now): see the module docstring."""
        self._tables()
        if amount > limit:
            return (False, *self.get_moving_window(key, limit, expiry))
        if self._pg:
            return self._acquire_pg(key, limit, expiry, amount)
        with self.engine.begin() as conn:  # BEGIN IMMEDIATE: the takers of every key queue here
            raw: Any = conn.connection.driver_connection  # SQLAlchemy's statement machinery costs more
            now = self.clock()
            gone = raw.execute(_DROP, (key, now - expiry)).rowcount
            row = raw.execute(_COUNT, (key,)).fetchone()
            hits = row[0] - gone if row is not None else raw.execute(_COUNT_ROWS, (key,)).fetchone()[0]
            taken = hits <= limit - amount
            if taken:
                raw.executemany(_ADD, [(key, now)] * amount)
            if taken or gone:
                raw.execute(_SET_COUNT, (key, hits + amount * taken))
            oldest = raw.execute(_OLDEST, (key, now - expiry)).fetchone()[0] if hits else None
        return taken, (oldest if hits else now), hits + amount * taken

    def _acquire_pg(self, key: str, limit: int, expiry: int, amount: int) -> tuple[bool, float, int]:
        """PostgreSQL in one round trip: one simple-protocol message whose statements run as one
        implicit transaction: a transaction-scoped advisory lock on the key (takers of one key queue
        there), then the statement, which reads the window only once the lock is held. No WAL flush
        is awaited: a hit need not survive a crash."""
        from psycopg import sql

        now = self.clock()
        lock = zlib.crc32(key.encode()) - 2**31  # a signed 32-bit key for pg_advisory_xact_lock
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")  # no BEGIN round trip: the message is one
            raw: Any = conn.connection.driver_connection
            with raw.cursor() as cur:
                args = {"k": key, "now": now, "floor": now - expiry, "amount": amount, "room": limit - amount}
                body = sql.SQL(_PG_ACQUIRE).format(**{k: sql.Literal(v) for k, v in args.items()})
                cur.execute(sql.SQL("SET LOCAL synchronous_commit = off; SELECT pg_advisory_xact_lock({}); {}")
                            .format(sql.Literal(lock), body))
                while cur.nextset():  # the results of SET and of the lock come first
                    pass
                oldest, hits, added = cur.fetchone()
        return bool(added), (float(oldest) if hits else now), int(hits) + int(added)

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        self._tables()
        now = self.clock()
        with self.engine.connect() as conn:
            conn.execution_options(**{BEGIN_OPTION: "DEFERRED"})  # a read: no write lock on SQLite
            # a read, without the key's lock: a take running meanwhile may or may not be counted,
            # as with any read of a moving window
            with conn.begin():
                row = conn.exec_driver_sql(self._sql(_COUNT), (key,)).first()
                if row is None:
                    hits = conn.exec_driver_sql(self._sql(_COUNT_ROWS), (key,)).scalar_one()
                else:
                    hits = row[0]
                hits -= conn.exec_driver_sql(self._sql(_EXPIRED), (key, now - expiry)).scalar_one()
                oldest = conn.exec_driver_sql(self._sql(_OLDEST), (key, now - expiry)).scalar() if hits else None
        return (float(oldest), int(hits)) if hits else (now, 0)

    def check(self) -> bool:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True

    def reset(self) -> int | None:
        self._tables()
        with self.engine.begin() as conn:
            keys = conn.exec_driver_sql("SELECT count(DISTINCT key) FROM crmgate_budget_hits").scalar()
            conn.exec_driver_sql("DELETE FROM crmgate_budget_hits")
            conn.exec_driver_sql("DELETE FROM crmgate_budget_counts")
        return int(keys or 0)

    def clear(self, key: str) -> None:
        self._tables()
        with self.engine.begin() as conn:
            conn.exec_driver_sql(self._sql("DELETE FROM crmgate_budget_hits WHERE key = ?"), (key,))
            conn.exec_driver_sql(self._sql("DELETE FROM crmgate_budget_counts WHERE key = ?"), (key,))


def budget_for(config: Config, *, clock: Callable[[], float] = time.time) -> Budget:
    """The budget ``config.budget.storage`` names (see the module docstring); ``clock`` in seconds."""
    where = config.budget.storage
    if where.startswith(("redis://", "rediss://")):
        return WindowBudget.redis(where, clock)
    store = config.store
    if where == "memory" or store in ("sqlite://", "sqlite:///:memory:") or store.endswith(":memory:"):
        return WindowBudget.memory(clock)
    if store.startswith("sqlite:///"):
        # beside the trail, not in it: a budget write must not queue behind (or hold up) trail appends.
        # Not durable: after a crash, an emptier window only lets calls wait less.
        engine = make_engine(store + ".budget", durable=False)
    else:
        engine = make_engine(store)
    return WindowBudget(SqlWindows(engine, lambda: clock() / TICK), clock=clock)
