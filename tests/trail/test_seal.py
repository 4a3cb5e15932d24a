"""One signature for two appends: ``append(..., seal=False)`` leaves its batch unsigned (reported as
``unsigned_tail``, never as valid) until a later sealed append or :meth:`TrailStore.seal` signs a
head that chains through it; a store that stops in between leaves a trail that verifies up to it.
Each test runs on SQLite and PostgreSQL."""
from __future__ import annotations

import psycopg
import pytest

from crmgate.trail import TrailStoreError, verify_store
from crmgate.trail.pgappend import RELEASE_BARRIER, take_barrier

from .trailkit import entry, sql


def _codes(store, signer) -> list[tuple[int | None, str]]:
    return [(p.seq, p.code) for p in verify_store(store, signer.public_key()).problems]


def test_an_unsealed_batch_is_reported_until_the_next_append_signs_through_it(make_store, signer):
    """No checkpoint for the unsealed batch; verify names its first seq as ``unsigned_tail``; the
    next (sealed) append's one checkpoint covers both batches."""
    store = make_store()
    store.append([entry(1)])
    out = store.append([entry(2), entry(3)], seal=False)
    assert [e.seq for e in out] == [2, 3]
    assert [c.seq for c in store.checkpoints()] == [1]
    assert _codes(store, signer) == [(2, "unsigned_tail")]
    assert store.unsealed
    store.append([entry(4)], durable=False)
    assert [c.seq for c in store.checkpoints()] == [1, 4]
    assert not store.unsealed
    assert verify_store(store, signer.public_key()).ok


def test_a_store_that_stops_between_leaves_a_trail_the_next_store_signs(make_store, signer):
    """The process that appended unsealed stops (its store closed, nothing more appended): the
    trail verifies but for the unsigned tail; a new store's :meth:`seal` signs the head once."""
    first = make_store()
    first.append([entry(1)], seal=False)
    first.append([entry(2)], seal=False)
    first.close()
    assert _codes(make_store(), signer) == [(1, "unsigned_tail")]
    second = make_store()
    assert not second.unsealed  # it appended nothing itself
    assert second.seal() == 2
    assert [(c.seq, c.head_hash) for c in second.checkpoints()] == [(2, second.head()[1])]
    assert second.seal() is None  # covered: nothing to sign
    assert [c.seq for c in second.checkpoints()] == [2]
    assert verify_store(second, signer.public_key()).ok


def test_seal_on_an_empty_or_signed_trail_signs_nothing(make_store):
    store = make_store()
    assert store.seal() is None
    store.append([entry(1)])
    assert store.seal() is None
    assert [c.seq for c in store.checkpoints()] == [1]


def test_seal_clears_the_unsealed_flag_and_needs_the_key(make_store, store_url, clock):
    store = make_store()
    store.append([entry(1)], seal=False)
    assert store.unsealed
    assert store.seal() == 1
    assert not store.unsealed
    with pytest.raises(TrailStoreError, match="no signer"):
        make_store(signer=None).seal()


def test_seal_may_be_decided_from_the_batch(make_store, signer):
    """A function for ``seal`` gets the batch's entries (a build hook's, once built) and decides."""
    store = make_store()
    seen: list[list[int]] = []

    def only_results(entries) -> bool:
        seen.append([int(e.change_id.split("_")[1]) for e in entries])
        return all(e.kind == "write.result" for e in entries)

    store.append(lambda conn: [entry(1), entry(2)], seal=only_results)
    assert seen == [[1, 2]] and store.checkpoints() == [] and store.unsealed
    store.append([entry(3, kind="write.result")], seal=only_results)
    assert [c.seq for c in store.checkpoints()] == [3]
    assert verify_store(store, signer.public_key()).ok


def test_an_unsealed_durable_append_still_waits_for_the_disk(make_store):
    """Durability does not depend on sealing: one flush for a durable unsealed append, none for a
    non-durable one."""
    store = make_store()
    base = store.lock_stats.flushes
    store.append([entry(1)], seal=False)
    assert store.lock_stats.flushes == base + 1
    store.append([entry(2)], seal=False, durable=False)
    assert store.lock_stats.flushes == base + 1
    assert [e.seq for e in store.read()] == [1, 2]


def test_an_unsealed_postgresql_append_lets_readers_in(make_store, signer):
    """On PostgreSQL the unsealed append releases the appenders' shared lock at once, so readers'
    snapshots are not held off for as long as the caller takes to append again (a CRM call)."""
    store = make_store()
    if store.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    store.append([entry(1)], seal=False)
    store.append([entry(2)], seal=False, durable=False)
    url = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as other:
        assert take_barrier(other, lock_timeout_ms=1)  # what a reader's snapshot waits for
        other.execute(RELEASE_BARRIER)
    assert _codes(store, signer) == [(1, "unsigned_tail")]


def test_a_driver_error_while_sealing_is_a_store_error(make_store):
    """The checkpoints table gone (a damaged database): seal raises TrailStoreError naming the
    driver error's category, and signs nothing."""
    store = make_store()
    store.append([entry(1)], seal=False)
    sql(store, "DROP TABLE trail_checkpoints")
    with pytest.raises(TrailStoreError, match=r"sealing the trail failed: (OperationalError|ProgrammingError)"):
        store.seal()
    assert store.unsealed


def test_a_kept_postgresql_connection_is_back_in_transactions_after_an_unsealed_append(make_store):
    """The unsealed append's last statement runs in autocommit on a connection the store keeps;
    the next append's build hook must run in a transaction again, so that what it wrote goes when
    the hook fails (on a connection left in autocommit it would stay committed)."""
    store = make_store()
    if store.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    store.append([entry(1)], seal=False)
    store.append([entry(2)], seal=False, durable=False)

    def failing(conn):
        conn.exec_driver_sql("CREATE TABLE hook_scratch (x int)")
        conn.exec_driver_sql("INSERT INTO hook_scratch VALUES (1)")
        raise ValueError("the hook fails after writing")

    with pytest.raises(ValueError):
        store.append(failing)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT to_regclass('hook_scratch')").scalar() is None
    assert [e.seq for e in store.iter_entries()] == [1, 2]


def test_sealing_a_covered_head_writes_nothing_and_waits_for_no_disk(make_store):
    store = make_store()
    store.append([entry(1)])
    base = store.lock_stats.flushes
    assert store.seal() is None
    assert store.lock_stats.flushes == base
    store.append([entry(2)], seal=False)
    base = store.lock_stats.flushes
    assert store.seal() == 2
    if store.engine.dialect.name == "sqlite":  # the checkpoint's commit is flushed
        assert store.lock_stats.flushes == base + 1
