"""Persisted routing-pool state (cursor, assignments per member), one row per (section, pool).

Pool state only changes inside a trail append (``TrailStore.append(build)``), in the append's
transaction and before the trail head is locked. A writer that draws from a pool first takes that
pool's row lock (:func:`lock`: the row is created when missing, then ``SELECT ... FOR UPDATE``,
in (section, pool) order), reads the state, decides and saves it; the lock is held to the commit.
So two workers never hand out the same slot, the state a decision used is committed with the
entry that records it, and only writers drawing from the same pool wait for each other. SQLite
has one writer at a time anyway (``BEGIN IMMEDIATE``).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crmgate.rules.routing import PoolState

metadata = sa.MetaData()

pools = sa.Table(
    "crmgate_pools",
    metadata,
    sa.Column("section", sa.String(120), primary_key=True),
    sa.Column("pool", sa.String(120), primary_key=True),
    sa.Column("state", sa.Text, nullable=False),
)

Key = tuple[str, str]


def create_tables(engine: sa.Engine) -> None:
    from crmgate.trail.engine import schema_transaction

    with schema_transaction(engine) as conn:
        metadata.create_all(conn, checkfirst=True)


def load(conn: sa.Connection, keys: Iterable[Key]) -> dict[Key, PoolState]:
    """The state of each pool (fresh when never used)."""
    wanted = set(keys)
    out = {k: PoolState() for k in wanted}
    if not wanted:
        return out
    sections = sorted({s for s, _ in wanted})
    for row in conn.execute(sa.select(pools).where(pools.c.section.in_(sections))):
        key = (row.section, row.pool)
        if key in wanted:
            out[key] = PoolState.from_dict(json.loads(row.state))
    return out


def lock(conn: sa.Connection, keys: Iterable[Key]) -> dict[Key, PoolState]:
    """Lock the rows of the pools ``keys`` until the transaction ends and return their state.

    Missing rows are inserted first (fresh state; a row another transaction is inserting makes
    this wait for its commit, then skip), so there is always a row to lock. Locks are taken in
    sorted order: writers locking several pools cannot deadlock each other.
    """
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    fresh = json.dumps(PoolState().to_dict(), sort_keys=True)
    dialect = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    conn.execute(dialect(pools).on_conflict_do_nothing(index_elements=["section", "pool"]),
                 [{"section": s, "pool": p, "state": fresh} for s, p in wanted])
    out = {k: PoolState() for k in wanted}
    stmt = (sa.select(pools).where(sa.tuple_(pools.c.section, pools.c.pool).in_(wanted))
            .order_by(pools.c.section, pools.c.pool).with_for_update())
    for row in conn.execute(stmt):
        out[(row.section, row.pool)] = PoolState.from_dict(json.loads(row.state))
    return out


def save(conn: sa.Connection, changed: Mapping[Key, PoolState]) -> None:
    for (section, pool), state in sorted(changed.items()):
        text = json.dumps(state.to_dict(), sort_keys=True)
        done = conn.execute(pools.update().where(pools.c.section == section, pools.c.pool == pool)
                            .values(state=text)).rowcount
        if not done:
            conn.execute(pools.insert().values(section=section, pool=pool, state=text))


def snapshot(engine: sa.Engine) -> dict[Key, PoolState]:
    """Every pool's state, for display and tests."""
    with engine.connect() as conn:
        return {(r.section, r.pool): PoolState.from_dict(json.loads(r.state))
                for r in conn.execute(sa.select(pools))}
