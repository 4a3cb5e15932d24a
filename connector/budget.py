"""The budget every worker of one store shares: the CRM's rate windows and stops, the server's quotas.

:class:`crmgate.adapters.budget.WindowBudget` counts (``limits``' moving-window strategy); this module
picks where the hits are kept, from ``budget.storage``:

* ``store`` (the default): the trail store's PostgreSQL database (:class:`SqlWindows`: two small
  tables beside the trail's); for a SQLite trail file, a SQLite file beside it (``trail.db.budget``,
  so budget writes never wait for trail appends); an in-memory store keeps them in memory;
* ``memory``: this process only (one worker);
* ``redis://host:port/db``: a Redis server, through ``limits``' Redis storage.

:class:`SqlWindows` is a ``limits`` storage: each hit is a row ``(key, at)``. Taking one first
takes, on PostgreSQL, a transaction-scoped advisory lock on the key, and on SQLite updates the key's
row in ``crmgate_budget_keys`` (the write lock of ``BEGIN IMMEDIATE``): either serialises the takers
of one key, so workers cannot overrun a window together; on PostgreSQL other keys do not wait.
"""
from __future__ import annotations

import time
import zlib
from collections.abc import Callable

from sqlalchemy import BigInteger, Column, Engine, Float, Index, MetaData, String, Table, delete, func, insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError, IntegrityError

from crmgate.adapters.budget import TICK, Budget, MovingWindowStorage, WindowBudget
from crmgate.config import Config
from crmgate.trail.engine import make_engine

_md = MetaData()
KEYS = Table("crmgate_budget_keys", _md, Column("key", String(250), primary_key=True),
             Column("hits", BigInteger, nullable=False, default=0))
HITS = Table("crmgate_budget_hits", _md, Column("key", String(250), nullable=False),
             Column("at", Float, nullable=False), Index("ix_crmgate_budget_hits", "key", "at"))


class SqlWindows(MovingWindowStorage):
    """A ``limits`` moving-window storage in a SQL database (see the module docstring); ``clock`` in ticks."""

    def __init__(self, engine: Engine, clock: Callable[[], float]) -> None:
        super().__init__()
        self.engine, self.clock = engine, clock
        self._made = False  # the tables are made on first use: a setup refused later leaves no file
        self._insert_key = _insert_ignoring(engine)
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

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        self._tables()
        if self._pg:
            return self._acquire_pg(key, limit, expiry, amount)
        with self.engine.begin() as conn:
            # the key's row lock first: takers of one key queue here, then count what is committed
            if not conn.execute(update(KEYS).where(KEYS.c.key == key).values(hits=KEYS.c.hits + amount)).rowcount:
                conn.execute(self._insert_key, {"key": key, "hits": 0})
                conn.execute(update(KEYS).where(KEYS.c.key == key).values(hits=KEYS.c.hits + amount))
            now = self.clock()
            nth = conn.execute(select(HITS.c.at).where(HITS.c.key == key).order_by(HITS.c.at.desc())
                               .offset(limit - amount).limit(1)).scalar()
            if nth is not None and nth > now - expiry:
                return False
            conn.execute(insert(HITS), [{"key": key, "at": now}] * amount)
            conn.execute(delete(HITS).where(HITS.c.key == key, HITS.c.at <= now - expiry))
            return True

    def _acquire_pg(self, key: str, limit: int, expiry: int, amount: int) -> bool:
        """PostgreSQL in three round trips: a transaction-scoped advisory lock on the key (takers of
        one key queue there), then one statement that drops expired hits and inserts ``amount`` new
        ones unless the window is full. No WAL flush is awaited: a hit need not survive a crash."""
        lock = zlib.crc32(key.encode()) - 2**31  # a signed 32-bit key for pg_advisory_xact_lock
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f"SET LOCAL synchronous_commit = off; SELECT pg_advisory_xact_lock({lock})")
            now = self.clock()
            done = conn.exec_driver_sql(
                "WITH gone AS (DELETE FROM crmgate_budget_hits WHERE key = %(k)s AND at <= %(floor)s) "
                "INSERT INTO crmgate_budget_hits (key, at) SELECT %(k)s, %(now)s FROM generate_series(1, %(n)s) "
                "WHERE NOT EXISTS (SELECT 1 FROM (SELECT at FROM crmgate_budget_hits WHERE key = %(k)s "
                "ORDER BY at DESC OFFSET %(off)s LIMIT 1) nth WHERE nth.at > %(floor)s) RETURNING 1",
                {"k": key, "now": now, "floor": now - expiry, "n": amount, "off": limit - amount}).first()
            return done is not None

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        self._tables()
        now = self.clock()
        with self.engine.connect() as conn:
            oldest, n = conn.execute(select(func.min(HITS.c.at), func.count())
                                     .where(HITS.c.key == key, HITS.c.at > now - expiry)).one()
        return (float(oldest), int(n)) if n else (now, 0)

    def check(self) -> bool:
        with self.engine.connect() as conn:
            conn.execute(select(1))
        return True

    def reset(self) -> int | None:
        self._tables()
        with self.engine.begin() as conn:
            conn.execute(delete(HITS))
            return conn.execute(delete(KEYS)).rowcount

    def clear(self, key: str) -> None:
        self._tables()
        with self.engine.begin() as conn:
            conn.execute(delete(HITS).where(HITS.c.key == key))


def _insert_ignoring(engine: Engine):  # noqa: ANN202 - a dialect's Insert
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(KEYS).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(KEYS).on_conflict_do_nothing()


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
