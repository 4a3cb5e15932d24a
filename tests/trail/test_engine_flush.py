"""SQLite commits are flushed to disk after the write lock is released, never skipped, never under it."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from crmgate.trail.engine import make_engine


def _other_writer_gets_in(db: Path) -> bool:
    """Whether another connection takes the write lock at once (no waiting)."""
    other = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


def test_each_write_commit_is_flushed_once_the_lock_is_free(tmp_path: Path):
    """Every committed write transaction flushes the WAL once, after the COMMIT let other writers in;
    a rolled-back or read-only connection flushes nothing."""
    db = tmp_path / "t.db"
    flushes: list[tuple[str, bool]] = []
    engine = make_engine(f"sqlite:///{db}", flush=lambda path: flushes.append((path, _other_writer_gets_in(db))))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with engine.connect() as conn:  # a read, closed without a commit
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
        raise RuntimeError("rolled back")
    assert flushes == [(f"{db}-wal", True), (f"{db}-wal", True)]
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL: the flush is ours
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
    engine.dispose()


def test_a_store_that_need_not_survive_a_crash_is_never_flushed(tmp_path: Path):
    """``durable=False`` (the budget file): commits are not flushed and SQLite syncs nothing either."""
    db = tmp_path / "b.db"
    flushes: list[str] = []
    engine = make_engine(f"sqlite:///{db}", durable=False, flush=flushes.append)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 0  # OFF
    assert flushes == []
    engine.dispose()
