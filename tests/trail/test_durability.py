"""Which trail appends wait for the disk: every one by default, none with ``durable=False``
(entries whose loss reconcile repairs), on SQLite (the WAL fsync after the commit) and on
PostgreSQL (the flushing commit after one made with synchronous_commit off)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text

from crmgate.trail import verify_store
from crmgate.trail.engine import FlushedCommits, make_engine

from .trailkit import entry


def test_a_durable_append_waits_for_the_disk_once_and_a_non_durable_one_not_at_all(make_store, signer):
    """Each durable append flushes exactly once; ``durable=False`` commits (the entries are read
    back and verify) without flushing; the next durable append flushes again."""
    store = make_store()
    base = store.lock_stats.flushes  # creating the tables committed too
    store.append([entry(1)])
    assert store.lock_stats.flushes == base + 1
    store.append([entry(2), entry(3)], durable=False)
    store.append(lambda conn: [entry(4)], durable=False)
    assert store.lock_stats.flushes == base + 1
    store.append([entry(5)])
    assert store.lock_stats.flushes == base + 2
    assert [e.seq for e in store.read()] == [1, 2, 3, 4, 5]
    assert verify_store(store, [signer.public_key()]).ok


def test_an_empty_batch_needs_no_flush(make_store):
    """Nothing appended, nothing to wait for."""
    store = make_store()
    base = store.lock_stats.flushes
    store.append([])
    assert store.lock_stats.flushes == base


def test_skipping_the_flush_covers_one_transaction_only(tmp_path: Path):
    """FlushedCommits.skip_flush: the transaction in progress commits unflushed; a rolled-back
    one clears the request too; every later commit is flushed again."""
    db = tmp_path / "t.db"
    flushes: list[str] = []
    engine = make_engine(f"sqlite:///{db}", flush=flushes.append)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    assert len(flushes) == 1

    def write(skip: bool, fail: bool = False) -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (1)"))
                raw = conn.connection.driver_connection
                assert isinstance(raw, FlushedCommits)
                if skip:
                    raw.skip_flush()
                if fail:
                    raise RuntimeError("rolled back")
        except RuntimeError:
            pass

    write(skip=True)
    assert len(flushes) == 1
    write(skip=False)
    assert len(flushes) == 2
    write(skip=True, fail=True)
    write(skip=False)
    assert len(flushes) == 3
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 3
    engine.dispose()


def test_an_unflushed_commit_is_in_the_database_for_other_connections(tmp_path: Path, make_store):
    """Not waiting for the disk is not "not committed": another connection (another process)
    reads the non-durable entries at once."""
    store = make_store()
    store.append([entry(1)], durable=False)
    if store.engine.dialect.name == "sqlite":
        other = sqlite3.connect(store.engine.url.database)
        try:
            assert other.execute("SELECT count(*) FROM trail_entries").fetchone()[0] == 1
        finally:
            other.close()
    else:
        import psycopg

        url = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url) as other:
            assert other.execute("SELECT count(*) FROM trail_entries").fetchone()[0] == 1


def test_an_entry_holding_a_float_is_stored_in_canonical_form(make_store, signer):
    """The store writes data holding a float with the json encoder (orjson would write 1e-05 as
    0.00001): the stored body is canonical_json of the entry, so an export verifies without it."""
    from crmgate.trail.canonical import canonical_json

    store = make_store()
    store.append([entry(1, data={"rate": 1e-05, "n": [1, {"x": 2.5e-07}]}), entry(2)])
    with store.scan() as scan:
        bodies = [row["body"] for row in scan.rows()]
    written = store.read()
    assert bodies == [canonical_json(e.content()) for e in written]
    assert '"rate":1e-05' in bodies[0]
    assert verify_store(store, [signer.public_key()]).ok
