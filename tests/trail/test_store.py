"""TrailStore on SQLite and PostgreSQL: append, read, checkpoints, the ``also`` hook, errors."""
from __future__ import annotations

import base64
import pickle
from datetime import date, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Column, MetaData, String, Table, func, select, text

from crmgate.trail import (
    GENESIS,
    Entry,
    NewEntry,
    TrailStore,
    TrailStoreError,
    canonical_json,
    checkpoint_message,
    entry_hash,
)

from .trailkit import entry, fill


def test_append_read_round_trip(make_store, clock):
    """Appended entries come back from read() equal to what append returned, with chained hashes."""
    store = make_store()
    written = store.append([entry(1), entry(2, data={"nested": [1, {"ü": None}], "n": 1.5})])
    assert [e.seq for e in written] == [1, 2]
    assert written[0].prev_hash == GENESIS and written[1].prev_hash == written[0].hash
    assert written[0].hash == entry_hash(GENESIS, written[0].body())
    assert written[0].ts == "2026-11-22T09:00:00.000000Z"
    assert store.read() == written
    assert store.read()[1].data == {"nested": [1, {"ü": None}], "n": 1.5}


def test_entries_are_frozen_and_own_their_data(make_store):
    """Entry fields cannot be reassigned, and mutating one Entry's data affects neither the store nor to_dict()."""
    store = make_store()
    (written,) = store.append([entry(1)])
    with pytest.raises(AttributeError):
        written.kind = "x"  # type: ignore[misc]
    exported = written.to_dict()
    exported["data"]["fields"]["Title"] = "changed"
    assert written.data["fields"]["Title"] == "Head of Ops 1"
    read = store.read()[0]
    read.data["fields"]["Title"] = "changed"
    assert store.read()[0].data["fields"]["Title"] == "Head of Ops 1"
    assert store.read()[0].body() == written.body()


def test_plain_data_is_used_as_is_and_other_data_converted(make_store):
    """append does not copy data that is already plain JSON (the returned entry shares it); data
    with tuples or dates is converted for the returned entry. The stored bodies agree either way."""
    store = make_store()
    plain = entry(1)
    other = entry(2, data={"pair": (1, 2), "day": date(2026, 1, 2)})
    written = store.append([plain, other])
    assert written[0].data is plain.data
    assert written[1].data == {"pair": [1, 2], "day": "2026-01-02"}
    assert [e.body() for e in store.read()] == [e.body() for e in written]


def test_paging(make_store):
    """read(start, limit) and iter_entries page by seq without skipping or repeating entries."""
    store = make_store()
    fill(store, batches=5, size=3)
    assert [e.seq for e in store.read(4, 5)] == [4, 5, 6, 7, 8]
    assert [e.seq for e in store.read(14, 5)] == [14, 15]
    assert store.read(16) == []
    assert [e.seq for e in store.iter_entries(page=4)] == list(range(1, 16))
    assert [e.seq for e in store.iter_entries(start=10, page=3)] == list(range(10, 16))


def test_gap_free_across_many_batches(make_store, clock):
    """Seqs stay 1..N without gaps across batches of different sizes, and head() tracks the last entry."""
    store = make_store()
    assert store.head() == (0, GENESIS)
    sizes = [1, 5, 2, 7, 1, 3, 10, 1]
    for size in sizes:
        clock.advance(1)
        store.append([entry(i) for i in range(size)])
    everything = list(store.iter_entries(page=7))
    assert [e.seq for e in everything] == list(range(1, sum(sizes) + 1))
    assert store.head() == (sum(sizes), everything[-1].hash)
    assert store.count() == sum(sizes)


def test_each_batch_ends_with_a_signed_checkpoint(make_store, signer):
    """Every append stores one checkpoint at its last seq, over that entry's hash, signed by the trail key."""
    store = make_store()
    ends = []
    for size in (3, 1, 4):
        ends.append(store.append([entry(i) for i in range(size)])[-1])
    cps = store.checkpoints()
    assert [cp.seq for cp in cps] == [e.seq for e in ends] == [3, 4, 8]
    public = signer.public_key()
    for cp, last in zip(cps, ends):
        assert cp.head_hash == last.hash and cp.key_id == signer.key_id and cp.ts == last.ts
        assert public.verify(checkpoint_message(cp.seq, cp.head_hash, cp.ts, cp.key_id), cp.signature)
    assert [cp.seq for cp in store.checkpoints(start=4, limit=1)] == [4]


def test_also_runs_in_the_same_transaction_before_the_head_is_locked(make_store):
    """Rows written by `also` commit with the batch. It runs before the head lock: it gets the
    entries being appended (not numbered yet) and the trail does not hold them yet, on PostgreSQL
    the head row is still free for another writer, and an empty batch does not call it."""
    store = make_store()
    side = Table("side_effects", MetaData(), Column("change_id", String, primary_key=True))
    side.create(store.engine)
    store.append([entry(0)])
    seen = []

    def also(conn, entries):
        seen.append((conn.execute(select(func.count()).select_from(text("trail_entries"))).scalar_one(),
                     [type(e).__name__ for e in entries]))
        if conn.dialect.name != "sqlite":  # SQLite's write lock is the whole file's, taken at BEGIN
            with store.engine.connect() as other:
                other.exec_driver_sql("SET lock_timeout = '200ms'")
                assert other.exec_driver_sql("SELECT seq FROM trail_head WHERE id = 1 FOR UPDATE").scalar() == 1
                other.rollback()
        conn.execute(side.insert(), [{"change_id": e.change_id} for e in entries])

    written = store.append([entry(1), entry(2)], also=also)
    store.append([], also=also)
    assert seen == [(1, ["NewEntry", "NewEntry"])]
    with store.engine.connect() as conn:
        assert sorted(conn.execute(select(side.c.change_id)).scalars()) == [e.change_id for e in written]


def test_failing_also_rolls_back_everything(make_store):
    """An exception in `also` propagates unchanged and nothing is appended: no entries, checkpoint or head move."""
    store = make_store()
    side = Table("side_effects", MetaData(), Column("change_id", String, primary_key=True))
    side.create(store.engine)
    store.append([entry(0)])
    head = store.head()

    def also(conn, entries):
        conn.execute(side.insert(), [{"change_id": "written-then-rolled-back"}])
        raise RuntimeError("queue full")

    with pytest.raises(RuntimeError, match="queue full"):
        store.append([entry(1), entry(2)], also=also)
    assert store.head() == head
    assert [e.seq for e in store.read()] == [1]
    assert [cp.seq for cp in store.checkpoints()] == [1]
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(side)).scalar_one() == 0
    assert store.append([entry(3)])[0].seq == 2


def test_empty_append_is_a_no_op(make_store):
    """Appending nothing returns [] and writes no checkpoint."""
    store = make_store()
    assert store.append([]) == []
    assert store.checkpoints() == [] and store.head() == (0, GENESIS)


def test_append_without_signer_is_refused(make_store):
    """A store opened without a signer can read but refuses to append."""
    store = make_store(signer=None)
    with pytest.raises(TrailStoreError, match="signer") as raised:
        store.append([entry(1)])
    assert raised.value.code == "trail_store_error"
    assert store.head() == (0, GENESIS)


def test_invalid_data_is_rejected_before_writing(make_store):
    """Non-canonical data (NaN) raises ValueError and appends nothing, not even the valid entries."""
    store = make_store()
    with pytest.raises(ValueError):
        store.append([entry(1), entry(2, data={"score": float("nan")})])
    assert store.head() == (0, GENESIS)


def test_naive_clock_is_refused(make_store):
    """A clock returning naive datetimes is a programming error, not a silently-wrong timestamp."""
    store = make_store(clock=lambda: datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone"):
        store.append([entry(1)])


def test_reopened_store_continues_the_chain(make_store):
    """A second store on the same database continues seq and hash chain where the first stopped."""
    first = make_store()
    a = first.append([entry(1)])[0]
    first.close()
    b = make_store().append([entry(2)])[0]
    assert (b.seq, b.prev_hash) == (2, a.hash)


def test_lookups_and_filters(make_store, clock):
    """entries_for and query select by indexed columns and time range, in seq order."""
    store = make_store()
    store.append([entry(1, kind="proposal.decided", change_id=None, proposal_id="p1", actor="alice")])
    clock.advance(60)
    t1 = clock()
    store.append([entry(2, proposal_id="p1", change_id="c2"), entry(3, proposal_id="p2", change_id="c2",
                                                                   kind="write.result", record_id="R9")])
    assert [e.seq for e in store.entries_for(proposal_id="p1")] == [1, 2]
    assert [e.seq for e in store.entries_for(change_id="c2")] == [2, 3]
    assert [e.seq for e in store.entries_for(change_id="c2", proposal_id="p2")] == [3]
    assert [e.seq for e in store.query(kinds=["write.intent", "write.result"])] == [2, 3]
    assert [e.seq for e in store.query(actor="alice")] == [1]
    assert [e.seq for e in store.query(record_id="R9", object="Contact", use_case="enrich_contacts")] == [3]
    assert [e.seq for e in store.query(since=t1)] == [2, 3]
    assert [e.seq for e in store.query(until=t1)] == [1]
    assert [e.seq for e in store.query(since="2026-11-22T09:00:00.000000Z", limit=1, start=2)] == [2]
    with pytest.raises(ValueError):
        store.entries_for()


def test_private_key_never_stored(make_store, signer):
    """No column of any trail table contains the private key in raw, hex, base64 or PEM form."""
    store = make_store()
    fill(store, batches=3, size=2)
    seed = signer._key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())
    pem = signer._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    secrets = [seed.hex(), base64.b64encode(seed).decode(), pem.splitlines()[1], repr(seed)]
    dumped = []
    with store.engine.connect() as conn:
        for table in ("trail_entries", "trail_checkpoints", "trail_head"):
            dumped += [repr(tuple(row)) for row in conn.execute(text(f"SELECT * FROM {table}"))]
    blob = "\n".join(dumped)
    assert len(dumped) == 6 + 3 + 1
    assert signer.key_id in blob
    for secret in secrets:
        assert secret not in blob


def test_driver_errors_are_translated(tmp_path):
    """A database that cannot be opened raises TrailStoreError chained to the driver error."""
    with pytest.raises(TrailStoreError) as info:
        TrailStore(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    assert info.value.code == "trail_store_error"
    assert info.value.__cause__ is not None


def test_memory_sqlite_url_works(signer, clock):
    """sqlite:// (memory) is a working store for tests: one database for the whole store."""
    with TrailStore("sqlite://", signer=signer, clock=clock) as store:
        store.append([entry(1)])
        store.append([entry(2)])
        assert [e.seq for e in store.read()] == [1, 2]


def test_body_is_canonical_json_of_content(make_store):
    """The stored body is exactly Entry.body(): canonical JSON of every field except the hashes."""
    store = make_store()
    (written,) = store.append([NewEntry(kind="rollback.intent", change_id="c1", data={"b": 1, "a": "é"})])
    with store.engine.connect() as conn:
        body = conn.execute(text("SELECT body FROM trail_entries WHERE seq = 1")).scalar_one()
    assert body == written.body() == canonical_json(
        {"seq": 1, "ts": written.ts, "kind": "rollback.intent", "proposal_id": None, "batch_id": None,
         "change_id": "c1", "actor": None, "use_case": None, "object": None, "record_id": None,
         "op": None, "data": {"a": "é", "b": 1}})


def test_unparsable_url_is_a_store_error():
    """A URL SQLAlchemy cannot parse or has no driver for raises TrailStoreError, not a driver exception."""
    for url in ("not a url", "nosuchdb://x/y"):
        with pytest.raises(TrailStoreError) as raised:
            TrailStore(url)
        assert raised.value.code == "trail_store_error"


def test_entries_pickle_and_dict_round_trip(make_store):
    """Entries survive pickling and to_dict/from_dict unchanged (workers may pass them between processes)."""
    (written,) = make_store().append([entry(1, data={"list": [1, {"a": [2]}]})])
    assert pickle.loads(pickle.dumps(written)) == written
    assert Entry.from_dict(written.to_dict()) == written
    assert Entry.from_dict(written.to_dict()).body() == written.body()


def test_create_false_refuses_a_database_without_trail(store_url, tmp_path, signer):
    """With create=False a missing SQLite file or trail-less database is an error, and an existing trail opens."""
    with pytest.raises(TrailStoreError, match="no trail") as raised:
        TrailStore(f"sqlite:///{tmp_path / 'typo.db'}", create=False)
    assert raised.value.code == "trail_store_error"
    assert not (tmp_path / "typo.db").exists()
    with pytest.raises(TrailStoreError, match="no trail") as raised:
        TrailStore(store_url, create=False)
    assert raised.value.code == "trail_store_error"
    TrailStore(store_url, signer=signer).close()
    with TrailStore(store_url, create=False) as store:
        assert store.head() == (0, GENESIS)
