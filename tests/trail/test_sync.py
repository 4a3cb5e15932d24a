"""TrailStore.sync: the wait for the disk that a ``durable=False`` append skipped, made later (by
the worker about to act on the entries). Counted as a flush; the store keeps appending."""
from __future__ import annotations

import uuid

import psycopg
import pytest

from crmgate.trail import TrailStore, TrailStoreError, verify_store

from .trailkit import entry


def test_sync_waits_for_the_disk_once_and_the_store_goes_on(make_store, signer):
    store = make_store()
    store.append([entry(1)], durable=False)
    base = store.lock_stats.flushes
    store.sync()
    assert store.lock_stats.flushes == base + 1
    store.append([entry(2)], durable=False)
    assert [e.seq for e in store.read()] == [1, 2]
    assert verify_store(store, signer.public_key()).ok


def test_sync_of_a_memory_store_has_nothing_to_flush(signer):
    with TrailStore("sqlite://", signer=signer) as store:
        store.append([entry(1)], durable=False)
        base = store.lock_stats.flushes
        store.sync()
        assert store.lock_stats.flushes == base


def test_a_wal_that_cannot_be_opened_is_a_store_error(tmp_path, signer):
    """The file system refuses the WAL's path (a symlink loop put in its place, a fault outside
    crmgate): sync raises TrailStoreError, so no caller acts as if the entries were on disk."""
    db = tmp_path / "trail.db"
    with TrailStore(f"sqlite:///{db}", signer=signer) as store:
        store.append([entry(1)], durable=False)
        wal, kept = tmp_path / "trail.db-wal", tmp_path / "wal.kept"
        wal.rename(kept)  # SQLite keeps its own descriptor of it
        wal.symlink_to(wal)
        try:
            with pytest.raises(TrailStoreError, match="flushing the trail failed: OSError"):
                store.sync()
        finally:
            wal.unlink()
            kept.rename(wal)
        store.append([entry(2)])
        assert [e.seq for e in store.read()] == [1, 2]


@pytest.mark.postgres
def test_a_postgresql_connection_lost_before_sync_is_a_store_error(pg_url, signer):
    """The server ends the session of the store's kept connection (its backend terminated, a fault
    outside crmgate): the flushing commit fails and sync raises TrailStoreError; the next append
    goes through a new connection."""
    name = f"crmgate-sync-{uuid.uuid4().hex[:10]}"
    with TrailStore(f"{pg_url}&application_name={name}", signer=signer) as store:
        store.append([entry(1)], durable=False)
        with psycopg.connect(pg_url.split("?")[0], autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                          (name,))
        with pytest.raises(TrailStoreError, match="flushing the trail failed: OperationalError"):
            store.sync()
        store.append([entry(2)])
        assert [e.seq for e in store.read()] == [1, 2]
