"""TrailStore behaviour found unpinned by mutation testing: lock statistics, the build hook, how
driver errors and hook errors surface, what is logged, the read defaults, the PostgreSQL write
path (one server-side call, with and without ``also``) and its read snapshot, and which appends
wait for the disk (``durable``)."""
from __future__ import annotations

import getpass
import logging
import sqlite3
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from time import perf_counter

import psycopg
import pytest
import structlog
from sqlalchemy import Column, MetaData, String, Table, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from crmgate.trail import GENESIS, NewEntry, TrailStore, TrailStoreError, verify_store
from crmgate.trail.engine import FlushedCommits, make_engine
from crmgate.trail.store import LockStats, format_ts

from .trailkit import entry, sql


def _side_table(store: TrailStore) -> Table:
    side = Table("side_effects", MetaData(), Column("change_id", String, primary_key=True))
    side.create(store.engine)
    return side


# -- lock statistics ------------------------------------------------------------------------------

def test_lock_stats_count_each_append_and_its_time_within_the_call(make_store):
    """A fresh store has no appends and no time; each non-empty append counts once, with a wait
    and a hold that are never negative and together fit inside the append call itself."""
    store = make_store()
    assert (store.lock_stats.appends, store.lock_stats.waited_s, store.lock_stats.held_s) == (0, 0.0, 0.0)
    before = perf_counter()
    store.append([entry(1), entry(2)])
    took = perf_counter() - before
    stats = store.lock_stats
    assert stats.appends == 1
    assert 0.0 <= stats.waited_s and 0.0 <= stats.held_s and stats.waited_s + stats.held_s <= took
    store.append([])
    store.append(lambda conn: [])
    assert store.lock_stats.appends == 1


def test_lock_stats_add_sums_one_append():
    """LockStats is a plain record: built with values, ``add`` counts one append and sums both times."""
    stats = LockStats(appends=2, waited_s=1.0, held_s=0.5)
    stats.add(0.25, 0.5)
    assert (stats.appends, stats.waited_s, stats.held_s) == (3, 1.25, 1.0)


# -- the build hook --------------------------------------------------------------------------------

def test_a_build_hook_decides_the_entries_inside_the_transaction(make_store):
    """``append(build)`` runs ``build(conn)`` inside the append's transaction and appends what it
    returns; rows it writes commit with the batch. Returning nothing appends nothing: no entry, no
    checkpoint, the head unchanged."""
    store = make_store()
    side = _side_table(store)

    def build(conn):
        conn.execute(side.insert(), [{"change_id": "c1"}])
        return [entry(1), entry(2)]

    written = store.append(build)
    assert [e.seq for e in written] == [1, 2] and store.read() == written
    with store.engine.connect() as conn:
        assert list(conn.execute(select(side.c.change_id)).scalars()) == ["c1"]
    head = store.head()
    assert store.append(lambda conn: []) == []
    assert store.head() == head and [cp.seq for cp in store.checkpoints()] == [2]


def test_an_item_that_is_not_a_new_entry_is_refused(make_store):
    """append takes NewEntry items only: anything else is a TypeError naming its type, and nothing
    of the batch is written."""
    store = make_store()
    with pytest.raises(TypeError, match="append takes NewEntry items, got dict"):
        store.append([entry(1), {"kind": "write.intent"}])  # type: ignore[list-item]
    assert store.head() == (0, GENESIS)


# -- errors ----------------------------------------------------------------------------------------

def _occupy_next_seq(store: TrailStore) -> None:
    """A row already at the next seq (a broken or tampered database): the append's insert fails."""
    sql(store, "INSERT INTO trail_entries (seq, ts, kind, body, prev_hash, hash) "
               "VALUES (2, 'x', 'x', '{}', :g, :g)", g=GENESIS)


@pytest.mark.parametrize("size", [2, 9], ids=["small", "larger"])
def test_a_driver_error_while_appending_is_a_store_error(make_store, size):
    """A database error during the append (here a row already at the next seq) surfaces as
    TrailStoreError naming the driver error, chained to it, and nothing of the batch stays (on
    PostgreSQL the server-side call fails before its commit)."""
    store = make_store()
    store.append([entry(1)])
    _occupy_next_seq(store)
    with pytest.raises(TrailStoreError) as raised:
        store.append([entry(2 + i) for i in range(size)])
    assert raised.value.code == "trail_store_error"
    assert str(raised.value) in ("appending to the trail failed: IntegrityError",
                                 "appending to the trail failed: UniqueViolation")  # psycopg's own class
    assert isinstance(raised.value.__cause__, (sqlite3.IntegrityError, IntegrityError, psycopg.IntegrityError))
    assert store.head()[0] == 1 and [cp.seq for cp in store.checkpoints()] == [1]


def test_a_driver_error_after_the_build_hook_is_still_a_store_error(make_store):
    """Once the build hook has returned, a database error in the append is the store's
    (TrailStoreError), not the hook's."""
    store = make_store()
    store.append([entry(1)])
    _occupy_next_seq(store)
    with pytest.raises(TrailStoreError, match="appending to the trail failed: IntegrityError"):
        store.append(lambda conn: [entry(2)])


def test_a_driver_error_after_the_also_hook_is_still_a_store_error(make_store, signer):
    """Once ``also`` has returned, a database error writing the checkpoint (here one already
    stored at the batch's last seq) is the store's (TrailStoreError). On SQLite the batch is
    undone; on PostgreSQL the checkpoint goes in after the entries' commit, so they stay, unsigned
    (verify says so), until the next append's checkpoint signs a head that chains through them."""
    store = make_store()
    sql(store, "INSERT INTO trail_checkpoints (seq, head_hash, ts, key_id, signature) "
               "VALUES (2, :g, 'x', 'k', 's')", g=GENESIS)
    calls = []
    with pytest.raises(TrailStoreError, match="appending to the trail failed: IntegrityError"):
        store.append([entry(1), entry(2)], also=lambda conn, entries: calls.append(len(entries)))
    assert calls == [2]
    if store.engine.dialect.name == "sqlite":
        assert store.head() == (0, GENESIS)
        return
    assert store.head()[0] == 2
    sql(store, "DELETE FROM trail_checkpoints")
    assert [p.code for p in verify_store(store, signer.public_key()).problems] == ["unsigned_tail"]
    store.append([entry(3)])
    assert verify_store(store, signer.public_key()).ok


def test_database_errors_raised_in_the_hooks_propagate_unchanged(make_store):
    """A database error raised by the caller's own SQL in ``build`` or ``also`` is the caller's:
    it propagates as SQLAlchemy raised it (not wrapped as TrailStoreError), nothing is appended."""
    store = make_store()
    side = _side_table(store)
    store.append([entry(0)], also=lambda conn, entries: conn.execute(side.insert(), [{"change_id": "dup"}]))

    def build(conn):
        conn.execute(text("SELECT * FROM no_such_table"))
        return [entry(1)]

    with pytest.raises(SQLAlchemyError) as raised:
        store.append(build)
    assert not isinstance(raised.value, TrailStoreError)
    with pytest.raises(IntegrityError):
        store.append([entry(2)], also=lambda conn, entries: conn.execute(side.insert(), [{"change_id": "dup"}]))
    assert store.head()[0] == 1


def test_a_failed_read_is_a_store_error(make_store):
    """A read the database cannot serve (the entries table is gone) raises TrailStoreError
    naming the read, chained to the driver error."""
    store = make_store()
    sql(store, "DROP TABLE trail_entries")
    with pytest.raises(TrailStoreError, match="^reading the trail failed: ") as raised:
        store.read()
    assert raised.value.code == "trail_store_error" and isinstance(raised.value.__cause__, SQLAlchemyError)


def test_a_missing_head_row_is_reported(make_store):
    """head() on a trail whose head row was deleted tells the reader to run the verifier."""
    store = make_store()
    sql(store, "DELETE FROM trail_head")
    with pytest.raises(TrailStoreError, match="^the trail head row is missing; run the trail verifier$"):
        store.head()


def test_open_errors_name_the_cause(tmp_path):
    """A URL that does not parse (a port that is not a number) and a file that cannot be opened
    are TrailStoreErrors: the first names the exception type, the second also the driver's words."""
    with pytest.raises(TrailStoreError) as raised:
        TrailStore("postgresql://127.0.0.1:notaport/test")
    assert str(raised.value) == "cannot open the trail store: ValueError"
    with pytest.raises(TrailStoreError) as raised:
        TrailStore(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    assert str(raised.value) == "cannot open the trail store: OperationalError: unable to open database file"


def test_a_memory_database_without_a_trail_is_refused_when_not_creating():
    """create=False on an empty in-memory database is refused as holding no trail (there is no
    file to look for)."""
    with pytest.raises(TrailStoreError, match=r"^this database holds no trail \(trail_head table missing\)$"):
        TrailStore("sqlite://", create=False)


# -- timestamps ------------------------------------------------------------------------------------

class _NoOffset(tzinfo):
    """A tzinfo that knows no offset: Python treats such a datetime as naive."""

    def utcoffset(self, dt):
        return None

    def dst(self, dt):
        return None


def test_format_ts_refuses_a_time_without_offset_and_converts_to_utc():
    """A datetime whose tzinfo gives no offset is refused like a naive one; an aware time is
    written in UTC with microseconds and Z."""
    with pytest.raises(ValueError, match="timezone-aware"):
        format_ts(datetime(2026, 1, 2, 3, 4, 5, tzinfo=_NoOffset()))
    plus_two = timezone(timedelta(hours=2))
    assert format_ts(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=plus_two)) == "2026-01-02T01:04:05.000006Z"


# -- what is logged --------------------------------------------------------------------------------

def test_the_store_logs_no_sql_unless_asked(make_store, caplog):
    """By default the engine does not echo SQL (statements carry entry bodies, i.e. CRM data)."""
    store = make_store()
    store.append([entry(1)])
    store.read()
    assert [r for r in caplog.records if r.name.startswith("sqlalchemy")] == []


def test_an_append_logs_its_seqs_at_debug_level_only(make_store, caplog):
    """With debug logging on for crmgate.trail, each append logs ``trail.appended`` with its
    first and last seq; with it off, nothing."""
    store = make_store()
    with structlog.testing.capture_logs() as quiet:
        store.append([entry(1)])
    caplog.set_level(logging.DEBUG, logger="crmgate.trail")
    with structlog.testing.capture_logs() as logged:
        store.append([entry(2), entry(3), entry(4)])
    assert quiet == []
    assert logged == [{"event": "trail.appended", "first_seq": 2, "last_seq": 4, "log_level": "debug"}]


# -- read defaults ---------------------------------------------------------------------------------

def test_reads_return_at_most_1000_by_default(signer, clock):
    """read() and checkpoints() return the first 1000 when no limit is given; iter_entries()
    still yields every entry."""
    with TrailStore("sqlite://", signer=signer, clock=clock) as store:
        store.append([entry(i) for i in range(1000)])
        for i in range(1000):
            store.append([entry(i)])
        assert len(store.read()) == 1000 and store.read()[-1].seq == 1000
        assert [e.seq for e in store.read(start=1000)][:2] == [1000, 1001]
        assert sum(1 for _ in store.iter_entries()) == 2000
        cps = store.checkpoints()
        assert len(cps) == 1000 and (cps[0].seq, cps[-1].seq) == (1000, 1999)


# -- the write path per backend (PostgreSQL: one server-side call, see trail/pgappend.py) ----------

@pytest.mark.parametrize("with_also", [False, True], ids=["plain", "also"])
def test_batches_of_every_size_are_stored_whole(make_store, signer, with_also):
    """Batches of 1, 8, 9 and 20 entries (8 and 9: where PostgreSQL once switched to COPY),
    with and without ``also``: every entry reads back as appended, each batch stores one signed
    checkpoint at its last seq, the head follows, and the whole trail verifies."""
    store = make_store()
    seen: list[int] = []
    also = (lambda conn, entries: seen.append(len(entries))) if with_also else None
    written = []
    for size in (1, 8, 9, 20):
        written += store.append([entry(len(written) + i) for i in range(size)], also=also)
    assert store.read() == written and [e.seq for e in written] == list(range(1, 39))
    assert [cp.seq for cp in store.checkpoints()] == [1, 9, 18, 38]
    assert [cp.head_hash for cp in store.checkpoints()] == [written[i - 1].hash for i in (1, 9, 18, 38)]
    assert store.head() == (38, written[-1].hash)
    assert seen == ([1, 8, 9, 20] if with_also else [])
    report = verify_store(store, signer.public_key())
    assert report.ok, report.problems


def test_a_scan_reads_one_snapshot(make_store):
    """Entries appended while a scan is open (by another store on the same database) are not seen
    by that scan, on any page; a writer is not blocked by an open scan."""
    store = make_store()
    store.append([entry(i) for i in range(4)])
    other = make_store()
    with store.scan(page=2) as scan:
        rows = scan.rows()
        first = [next(rows)["seq"], next(rows)["seq"]]
        other.append([entry(i) for i in range(4, 8)])
        rest = [r["seq"] for r in rows]
        assert scan.head()[0] == 4
    assert first + rest == [1, 2, 3, 4]
    assert store.count() == 8


@pytest.mark.postgres
def test_the_repr_hides_the_password(pg_url, signer):
    """repr(store) shows the URL with the password masked (it ends up in logs and tracebacks)."""
    url = make_url(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    url = url.set(username=url.username or getpass.getuser(), password="s3cret")
    with TrailStore(url.render_as_string(hide_password=False), signer=signer) as store:
        assert "s3cret" not in repr(store) and "***" in repr(store)


def test_new_entry_without_ids_is_appended_with_nulls(make_store):
    """An entry with only a kind is appended with every id column empty (None read back)."""
    store = make_store()
    (written,) = store.append([NewEntry(kind="trail.note")])
    assert store.read() == [written]
    assert (written.proposal_id, written.change_id, written.record_id, written.data) == (None, None, None, {})


# -- durability: which appends wait for the disk ----------------------------------------------------
# Every append waits by default; ``durable=False`` (entries whose loss reconcile repairs) does not,
# on SQLite (the WAL fsync after the commit) and on PostgreSQL (the flushing commit after one made
# with synchronous_commit off).

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
