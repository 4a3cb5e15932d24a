"""Persisted routing-pool state (cursor, assignments per member), one row per (section, pool).

Pool state only changes inside a trail append (``TrailStore.append(build)``), after the trail
head is locked: every writer on every worker is serialised there, so two workers never hand out
the same slot, and the state a decision used is committed with the entry that records it.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import sqlalchemy as sa

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
