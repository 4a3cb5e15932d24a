"""SQLite commits are flushed to disk after the write lock is released, never skipped, never under it."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import event, text

from crmgate.trail.engine import _writers, make_engine


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


def test_writers_of_one_process_queue_before_sqlite_sees_them(tmp_path: Path):
    """Four threads writing at once never meet SQLite's lock, even with SQLite's own busy wait at 0:
    they queue on the file's in-process lock, held from BEGIN to COMMIT, and free during the flush."""
    db = tmp_path / "w.db"
    free_during_flush: list[bool] = []
    engine = make_engine(f"sqlite:///{db}", flush=lambda _p: free_during_flush.append(not _writers(str(db)).locked()))

    @event.listens_for(engine, "connect")
    def _no_busy_wait(dbapi_connection, _record) -> None:  # runs after the engine's own hook
        dbapi_connection.execute("PRAGMA busy_timeout = 0")

    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(w: int) -> None:
        try:
            start.wait()
            for i in range(25):
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": w * 100 + i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 100
    assert len(free_during_flush) == 101 and all(free_during_flush)
    engine.dispose()
