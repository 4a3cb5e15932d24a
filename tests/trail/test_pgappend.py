"""The PostgreSQL append (server-side chaining, checkpoint after the head lock, the readers'
barrier): its hashes and bodies are byte for byte the Python verifier's, awkward text included."""
from __future__ import annotations

import json

import psycopg
import pytest

from crmgate.trail import NewEntry, TrailStore, verify_store
from crmgate.trail.canonical import canonical_json, checkpoint_message, entry_hash
from crmgate.trail.pgappend import (FUNCTION, LOCK_CLASS, RELEASE_BARRIER, append_rows, take_barrier,
                                    write_checkpoint)
from crmgate.trail.records import CONTENT_FIELDS, ID_FIELDS

from .trailkit import entry, rows, sql

AWKWARD = [
    "Zürich", "日本語のテキスト", "😀 astral \U0001F9D1\u200D\U0001F4BB", "e\u0301 combining", "\u2028\u2029 separators",
    "nul \u0000 inside", 'quotes " and \\ backslash \\" \\\\', "\x7f\x01\x1f controls", "\ufeff bom", "שלום rtl",
    ',"seq":0,"ts":"" the cut mark', "\U0010FFFF last code point", "tab\tnew\nline\r",
    "it's O'Brien's '' $$ $fn$ E'x' \\' \\\\'", '{braces,"and",NULL}', "NULL", "",
]


def _awkward_entries() -> list[NewEntry]:
    out = []
    for i, text in enumerate(AWKWARD):
        column = text.replace("\u0000", "")  # a PostgreSQL text column cannot hold NUL (JSON escapes it)
        out.append(NewEntry(kind=f"k{i}", proposal_id=column, actor=column[::-1], object="Contact", record_id=None,
                            op=column if i % 2 else None,
                            data={text: text, "n": i, "f": 1e-05 * i, "nested": [text, {"ü": None, "b": True}],
                                  "big": 2 ** 70}))
    return out


def test_server_side_hashes_are_the_verifiers_byte_for_byte(make_store, signer):
    """Entries full of awkward Unicode (astral, combining, separators, NUL, the cut mark, escapes,
    floats, integers beyond 64 bits) get the hashes and bodies Python computes from their content,
    the returned entries agree with the stored rows, and the store verifies."""
    store = make_store()
    got = store.append(_awkward_entries()) + store.append([entry(1)], durable=False) + store.append(_awkward_entries())
    stored = rows(store)
    assert [r["hash"] for r in stored] == [e.hash for e in got]
    prev = "0" * 64
    for e, row in zip(got, stored, strict=True):
        body = canonical_json({name: getattr(e, name) for name in CONTENT_FIELDS})
        assert row["body"] == body and row["prev_hash"] == e.prev_hash == prev
        assert e.hash == entry_hash(prev, body) and json.loads(row["body"])["data"] == e.data
        prev = e.hash
    assert verify_store(store, signer.public_key()).ok


def _pg(store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("the server-side append is PostgreSQL's")


def test_timestamps_never_go_backwards_along_seq(make_store, clock):
    """The timestamp is read before the head lock; an append whose clock reads earlier than the
    entry before it takes that entry's timestamp (what it would have read under the lock)."""
    store = make_store()
    _pg(store)
    first = store.append([entry(1)])
    clock.advance(-60)
    second = store.append([entry(2), entry(3)])
    assert [e.ts for e in second] == [first[0].ts] * 2 and rows(store)[2]["ts"] == first[0].ts
    clock.advance(120)
    assert store.append([entry(4)])[0].ts > first[0].ts


def _conninfo(store) -> str:
    return store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def test_an_append_leaves_no_advisory_lock_and_a_reader_waits_for_one(make_store, signer):
    """After an append (durable or not) nothing holds the appenders' shared lock, so a reader's
    barrier is had at once; while an appender holds it (between its entries' commit and its
    checkpoint's), the barrier is not had."""
    store = make_store()
    _pg(store)
    store.append([entry(1)])
    store.append([entry(2)], durable=False)
    with psycopg.connect(_conninfo(store)) as other:
        assert take_barrier(other, lock_timeout_ms=1)
        other.execute(f"SELECT pg_advisory_unlock({LOCK_CLASS}, hashtext(current_schema()))")
        other.commit()
        with psycopg.connect(_conninfo(store)) as appender:
            appender.execute(f"SELECT pg_advisory_lock_shared({LOCK_CLASS}, hashtext(current_schema()))")
            appender.commit()
            assert not take_barrier(other, lock_timeout_ms=1)
    assert verify_store(store, signer.public_key()).ok


def test_a_store_without_the_function_gets_it_when_opened(make_store, signer):
    """A trail created before the function existed (or one whose function was dropped) gets it
    when a store is opened on it, and appends chain on from the old head."""
    store = make_store()
    _pg(store)
    store.append([entry(1)])
    sql(store, f"DROP FUNCTION {FUNCTION}")
    store.close()
    again = make_store()
    assert again.append([entry(2)])[0].seq == 2
    assert verify_store(again, signer.public_key()).ok


def test_between_its_two_commits_an_append_holds_readers_off(make_store, signer):
    """The real protocol, driven step by step on connections of the test's own: once the append
    call has committed the entries (unsigned yet), a reader's barrier is not had; the checkpoint's
    commit releases it, and the trail then verifies."""
    store = make_store()
    _pg(store)
    store.append([entry(1)])
    second = entry(2)
    _, parts = TrailStore._prepare([second])
    with psycopg.connect(_conninfo(store)) as appender, psycopg.connect(_conninfo(store)) as reader:
        seq, _, ts, hashes, _, _ = append_rows(appender, "2026-11-22T09:00:01.000000Z", [second.kind],
                                               [[getattr(second, name)] for name in ID_FIELDS], parts)
        assert store.head() == (seq + 1, hashes[-1])
        assert not take_barrier(reader, lock_timeout_ms=1)
        signed = (seq + 1, hashes[-1], ts, signer.key_id,
                  signer.sign(checkpoint_message(seq + 1, hashes[-1], ts, signer.key_id)))
        write_checkpoint(appender, signed, durable=True)
        assert take_barrier(reader, lock_timeout_ms=1)
        reader.execute(RELEASE_BARRIER)
        reader.commit()
    assert verify_store(store, signer.public_key()).ok


def test_a_kept_connection_is_back_in_transactions_after_an_append(make_store):
    """The append's call and its checkpoint run in autocommit on a connection the store keeps;
    the next append's build hook must run in a transaction again, so that what it wrote goes
    when the hook fails (on a connection left in autocommit it would stay committed)."""
    store = make_store()
    _pg(store)
    store.append([entry(1)])  # no hook: the call itself runs in autocommit, then the checkpoint
    store.append([entry(2)], durable=False)

    def failing(conn):
        conn.exec_driver_sql("CREATE TABLE hook_scratch (x int)")
        conn.exec_driver_sql("INSERT INTO hook_scratch VALUES (1)")
        raise ValueError("the hook fails after writing")

    with pytest.raises(ValueError):
        store.append(failing)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT to_regclass('hook_scratch')").scalar() is None
    assert [e.seq for e in store.iter_entries()] == [1, 2]
