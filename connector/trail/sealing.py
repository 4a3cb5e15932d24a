"""Signing a trail head that no checkpoint covers yet, and leaving a PostgreSQL append unsigned.

What :meth:`crmgate.trail.store.TrailStore.seal` and ``append(..., seal=False)`` run; the store
passes ``sign(seq, head_hash)``, which returns the checkpoint row (seq, head_hash, ts, key_id,
signature). Driver errors propagate (the store translates them).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from crmgate.trail import schema
from crmgate.trail.engine import KeptConnections
from crmgate.trail.pgappend import LOCK_CLASS, RELEASE_BARRIER, take_barrier

Sign = Callable[[int, str], tuple[Any, ...]]

_C, _H = schema.checkpoints, schema.head
_HEAD = f"SELECT seq, hash FROM {_H.name} WHERE id = 1"
_LAST_CHECKPOINT = f"SELECT max(seq) FROM {_C.name}"
_INSERT = f"INSERT INTO {_C.name} (seq, head_hash, ts, key_id, signature) VALUES "
# an unsealed PostgreSQL append lets readers' snapshots in (its session's shared lock goes) and,
# when durable, waits for the disk: a commit with a transaction id flushes every earlier commit
_PG_UNSEALED = f"SELECT pg_advisory_unlock_shared({LOCK_CLASS}, hashtext(current_schema()))"
_PG_FLUSH = ", txid_current()"


def _unsigned_head(cur: Any) -> tuple[int, str] | None:
    seq, head_hash = cur.execute(_HEAD).fetchone()
    return None if int(seq) <= (cur.execute(_LAST_CHECKPOINT).fetchone()[0] or 0) else (int(seq), head_hash)


def seal_sqlite(writers: KeptConnections, sign: Sign) -> int | None:
    """Sign the head in one write transaction (the head cannot move meanwhile); the seq signed."""
    with writers.begin() as conn:
        raw = conn.connection.driver_connection
        head = _unsigned_head(raw)
        if head is None:
            if hasattr(raw, "skip_flush"):
                raw.skip_flush()  # nothing written: nothing to wait for
            return None
        raw.execute(_INSERT + "(?, ?, ?, ?, ?)", sign(*head))
    return head[0]


def seal_pg(engine: Engine, sign: Sign) -> int | None:
    """Sign the head under the readers' barrier: no append is then between its entries' commit and
    its checkpoint's (whose checkpoint would collide with this one), and none starts one."""
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        if not take_barrier(raw):
            conn.invalidate()
            raise raw.OperationalError("the trail head stayed busy")
        try:
            with raw.cursor() as cur:
                head = _unsigned_head(cur)
                if head is not None:
                    cur.execute(_INSERT + "(%s, %s, %s, %s, %s)", sign(*head))
            raw.commit()
            return None if head is None else head[0]
        finally:
            raw.rollback()
            raw.execute(RELEASE_BARRIER)
            raw.commit()


def leave_unsealed_pg(raw: Any, durable: bool) -> None:
    """After an append's entries committed without a checkpoint: release the appenders' shared
    lock (readers may now see the batch, unsigned) and, when ``durable``, wait for the disk."""
    raw.autocommit = True
    try:
        raw.execute(_PG_UNSEALED + (_PG_FLUSH if durable else ""))
    finally:
        raw.autocommit = False
