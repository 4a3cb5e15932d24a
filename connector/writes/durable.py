"""Making a trail's committed appends durable after the fact, off the deciding thread.

A pipelined round (:mod:`crmgate.writes.chunks`) commits chunk k's intents without waiting for the
disk and moves on to deciding chunk k+1; the worker thread that makes chunk k's CRM call first
calls :func:`sync`, so the intents are on disk before the call, as ever, while the wait for the
disk overlaps the next chunk's decisions instead of delaying them.

A committed append that is not yet on disk survives the process dying (SQLite's WAL and
PostgreSQL's commit are written before the commit returns); only a power loss could take it, and
no call was made for it before :func:`sync` returned.
"""
from __future__ import annotations

from crmgate.trail import TrailStore
from crmgate.trail.engine import flush_file


def sync(store: TrailStore) -> None:
    """Return once every append committed to ``store`` before this call is on disk.

    SQLite: ``fdatasync`` of the database's WAL (every commit before the call is in it; a WAL
    that is gone was checkpointed into the synced database). PostgreSQL: one commit of a
    transaction of its own under the server's durability setting, which flushes the WAL up to it
    and so every earlier commit (as ``TrailStore`` does after a durable append)."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite":
        if url.database not in (None, "", ":memory:"):
            flush_file(f"{url.database}-wal")
        return
    with store.engine.begin() as conn:
        conn.exec_driver_sql("SELECT txid_current()")
