"""Creating the connector's tables safely when several workers start at once."""
from __future__ import annotations

import sqlalchemy as sa

_LOCK_KEY = 0x63726D67  # "crmg": one advisory lock id for all crmgate schema changes


def ensure(engine: sa.Engine, metadata: sa.MetaData) -> None:
    """``create_all``, serialised across processes on PostgreSQL (concurrent CREATE TABLE races on
    its catalog); SQLite serialises writers itself."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        metadata.create_all(conn, checkfirst=True)
