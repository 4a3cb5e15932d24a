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


def sync(store: TrailStore) -> None:
    """Return once every append committed to ``store`` before this call is on disk
    (:meth:`TrailStore.sync`)."""
    store.sync()
