"""Trails created by older versions: a store opened on one drops the indexes no query needs any
more (``kind``, the full ``record_id`` one) and adds their replacement, and the chain goes on and
verifies. An older SQLite layout (``seq`` BIGINT with its own unique index) keeps working as is."""
from __future__ import annotations

import sqlite3

from sqlalchemy import inspect

from crmgate.trail import verify_store

from .trailkit import entry, sql

_OLD_INDEXES = {"ix_trail_entries_proposal_id", "ix_trail_entries_change_id", "ix_trail_entries_actor",
                "ix_trail_entries_record_id", "ix_trail_entries_ts", "ix_trail_entries_kind"}


def _indexes(store) -> set[str]:
    return {ix["name"] for ix in inspect(store.engine).get_indexes("trail_entries")}


def test_opening_an_older_trail_replaces_its_indexes(make_store, signer):
    store = make_store()
    store.append([entry(1), entry(2)])
    sql(store, "DROP INDEX ix_trail_entries_record_id_set")
    sql(store, "CREATE INDEX ix_trail_entries_kind ON trail_entries (kind)")
    sql(store, "CREATE INDEX ix_trail_entries_record_id ON trail_entries (record_id)")
    assert _indexes(store) == _OLD_INDEXES
    store.close()
    again = make_store()
    assert _indexes(again) == _OLD_INDEXES - {"ix_trail_entries_kind", "ix_trail_entries_record_id"} | {
        "ix_trail_entries_record_id_set"}
    again.append([entry(3, record_id=None)])
    assert [e.seq for e in again.query(record_id=entry(2).record_id)] == [2]
    assert verify_store(again, signer.public_key()).ok


def test_a_sqlite_trail_with_the_older_bigint_layout_still_appends_and_verifies(tmp_path, make_store, signer):
    """seq BIGINT PRIMARY KEY (not the rowid: a separate unique index), as trails before were."""
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as raw:
        raw.executescript("""
            CREATE TABLE trail_entries (seq BIGINT NOT NULL, ts VARCHAR(40) NOT NULL, kind VARCHAR NOT NULL,
              proposal_id VARCHAR, batch_id VARCHAR, change_id VARCHAR, actor VARCHAR, use_case VARCHAR,
              object VARCHAR, record_id VARCHAR, op VARCHAR, body TEXT NOT NULL, prev_hash VARCHAR(64) NOT NULL,
              hash VARCHAR(64) NOT NULL, PRIMARY KEY (seq));
            CREATE INDEX ix_trail_entries_kind ON trail_entries (kind);
            CREATE TABLE trail_checkpoints (seq BIGINT NOT NULL, head_hash VARCHAR(64) NOT NULL,
              ts VARCHAR(40) NOT NULL, key_id VARCHAR(64) NOT NULL, signature TEXT NOT NULL, PRIMARY KEY (seq));
        """)
    from crmgate.trail import TrailStore
    store = TrailStore(f"sqlite:///{db}", signer=signer)
    try:
        store.append([entry(1)])
        store.append([entry(2)], seal=False)
        store.append([entry(3)])
        assert [c.seq for c in store.checkpoints()] == [1, 3]
        assert "ix_trail_entries_kind" not in _indexes(store)
        assert verify_store(store, signer.public_key()).ok
    finally:
        store.close()
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_autoindex_trail_entries_1'"
                           ).fetchone()[0] == 1  # the layout was kept, not rebuilt


def test_a_new_sqlite_trail_keys_its_entries_by_rowid(tmp_path, make_store, store_url):
    """No second b-tree for seq on SQLite: every append writes one page less per table."""
    store = make_store()
    if store.engine.dialect.name != "sqlite":
        return
    raw = store.engine.raw_connection()
    try:
        autoindexes = raw.execute("SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_autoindex_trail%'").fetchall()
    finally:
        raw.close()
    assert autoindexes == []
