"""Writes whose outcome is not known yet, in ``crmgate_inflight``, and their idempotency rows.

A write is *in flight* from its intent (the row is inserted in the intent's transaction) until its
result says what happened (``ok``/``conflict``/``failed`` delete the row; ``unknown`` keeps it with
``state = 'unknown'``). A row left in ``writing`` after its writer died is what reconcile finds.
Reconciling workers *claim* a row with one conditional UPDATE (``claimed_until`` in the past or
empty), so on a shared PostgreSQL store two workers never judge one change at once.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crmgate import tables
from crmgate.clock import iso
from crmgate.writes.outcome import Outcome

_T = tables.inflight
_I = tables.idempotency
# built once: SQLAlchemy caches a statement's compiled form, and building one per call cost more
# than running it (expanding IN takes any list)
_SAVE = _I.update().where(_I.c.key == sa.bindparam("k")).values(outcome=sa.bindparam("o"))
_ADD = _I.insert().values(key=sa.bindparam("k"), proposal_id=sa.bindparam("p"), outcome=sa.bindparam("o"))
_FOUND = sa.select(_I.c.key).where(_I.c.key.in_(sa.bindparam("keys", expanding=True)))
#: stored outcomes whose write may still change: a repeat of the key looks at the write first
OPEN = ("in_progress", "unknown")

IN_PROGRESS_ERROR = {
    "code": "in_progress",
    "message": "the first attempt with this idempotency key is still running (or its process died and "
               "it is not reconciled yet): wait and ask again with the SAME key; never retry under a new key",
}


@dataclass(frozen=True, slots=True)
class Started:
    """A write about to be sent: what the in-flight row records."""

    change_id: str
    proposal_id: str
    idempotency_key: str | None
    object: str
    op: str


def claim_keys(conn: sa.Connection, claims: dict[str, str]) -> set[str]:
    """Claim idempotency keys (key -> the claiming proposal id) in the caller's transaction and
    return those now held by it; the others were used by a committed proposal (replay theirs).

    One ``INSERT ... ON CONFLICT DO NOTHING`` per key, in sorted order (no deadlock between
    workers claiming overlapping keys): while another transaction holds a key uncommitted,
    PostgreSQL makes this one wait for its commit. So a key is decided by one proposal only, with
    no trail-wide lock. The claimed row's outcome is a placeholder that the same transaction
    replaces (:func:`save_outcome`) before anyone can see it.
    """
    if not claims:
        return set()
    t = tables.idempotency
    dialect = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    conn.execute(dialect(t).on_conflict_do_nothing(index_elements=["key"]),
                 [{"key": k, "proposal_id": claims[k], "outcome": "{}"} for k in sorted(claims)])
    ordered = sorted(claims)
    held: set[str] = set()
    for i in range(0, len(ordered), 500):
        for row in conn.execute(sa.select(t.c.key, t.c.proposal_id).where(t.c.key.in_(ordered[i:i + 500]))):
            if row.proposal_id == claims[row.key]:
                held.add(row.key)
    return held


def save_outcome(conn: sa.Connection, key: str, proposal_id: str, outcome: Outcome) -> None:
    """Store (insert or replace) the outcome an idempotency key produced."""
    payload = json.dumps(outcome.to_dict(), ensure_ascii=False)
    if not conn.execute(_SAVE, {"k": key, "o": payload}).rowcount:
        conn.execute(_ADD, {"k": key, "p": proposal_id, "o": payload})


def save_outcomes(conn: sa.Connection, items: list[tuple[str, str, Outcome]]) -> None:
    """:func:`save_outcome` for many (key, proposal id, outcome) at once: three statements, not
    one or two round trips per key."""
    if not items:
        return
    keys = [k for k, _, _ in items]
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        found |= set(conn.execute(_FOUND, {"keys": keys[i:i + 500]}).scalars())
    rows = [{"k": k, "p": p, "o": json.dumps(o.to_dict(), ensure_ascii=False)} for k, p, o in items]
    old = [r for r in rows if r["k"] in found]
    if old:
        conn.execute(_SAVE, old)
    new = [r for r in rows if r["k"] not in found]
    if new:
        conn.execute(_ADD, new)


def save_claimed(conn: sa.Connection, items: list[tuple[str, str, Outcome]]) -> None:
    """:func:`save_outcomes` for keys already claimed (:func:`claim_keys`, in this transaction or
    an earlier one of the same proposal): their rows exist, so one UPDATE each on the driver and
    no look-up first. Should a row be missing after all, :func:`save_outcomes` stores every item."""
    if not items:
        return
    rows = [(json.dumps(o.to_dict(), ensure_ascii=False), k) for k, _, o in items]
    with _driver(conn) as (cur, mark):
        ran = cur.executemany(_CLAIMED_SQL.format(mark), rows)
        changed = (cur if ran is None else ran).rowcount  # sqlite3 answers a cursor, psycopg None
    if changed != len(rows):
        save_outcomes(conn, items)


def restate(conn: sa.Connection, key: str | None, **changes: Any) -> None:
    """Rewrite the stored outcome of ``key`` (if any) with ``changes``, so a replay of the key
    answers what became of the change later (approved, requeued...)."""
    if not key:
        return
    t = tables.idempotency
    found = conn.execute(sa.select(t.c.outcome).where(t.c.key == key)).first()
    if found is None:
        return
    new = replace(Outcome.from_dict(json.loads(found.outcome)), **changes)
    conn.execute(t.update().where(t.c.key == key).values(outcome=json.dumps(new.to_dict(), ensure_ascii=False)))


def provisional(outcome: Outcome) -> Outcome:
    """What a repeat of the key sees while the write is in flight: ``in_progress``, never ``failed``."""
    return replace(outcome, status="in_progress", error=dict(IN_PROGRESS_ERROR))


# ``started`` and ``finished`` run inside every trail append of the write path (``finished`` under
# the trail head lock): they go straight to the driver (SQLAlchemy's execution of a cached statement cost
# 50-90 us a call, several times the database's own work), in the caller's transaction.
_STARTED_SQL = (f"INSERT INTO {_T.name} (change_id, proposal_id, idempotency_key, object, op, state, started_at) "
                "VALUES ({0}, {0}, {0}, {0}, {0}, 'writing', {0})")
_CLAIMED_SQL = f"UPDATE {_I.name} SET outcome = {{0}} WHERE key = {{0}}"
_DONE_SQL = f"DELETE FROM {_T.name} WHERE change_id IN ({{}})"
_UNKNOWN_SQL = (f"UPDATE {_T.name} SET state = 'unknown', claimed_by = NULL, claimed_until = NULL "
                "WHERE change_id IN ({})")


@contextmanager
def _driver(conn: sa.Connection) -> Iterator[tuple[Any, str]]:
    """A cursor on the transaction's own driver connection, and its placeholder."""
    raw = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        yield raw, "?"  # sqlite3's execute and executemany make their own cursor
    else:
        with raw.cursor() as cur:
            yield cur, "%s"


def started(conn: sa.Connection, writes: Iterable[Started], now: datetime) -> None:
    """Insert one ``writing`` row per write (in the caller's transaction)."""
    at = iso(now)
    rows = [(w.change_id, w.proposal_id, w.idempotency_key, w.object, w.op, at) for w in writes]
    if rows:
        with _driver(conn) as (cur, mark):
            cur.executemany(_STARTED_SQL.format(mark), rows)


def finished(conn: sa.Connection, statuses: dict[str, str]) -> None:
    """``statuses``: change id -> the result's outcome status; ``unknown`` stays in flight."""
    done = [c for c, s in statuses.items() if s != "unknown"]
    unknown = [c for c, s in statuses.items() if s == "unknown"]
    if not statuses:
        return
    with _driver(conn) as (cur, mark):
        for sql, ids in ((_DONE_SQL, done), (_UNKNOWN_SQL, unknown)):
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                cur.execute(sql.format(", ".join([mark] * len(chunk))), chunk)


def pending(conn: sa.Connection, *, older_than: datetime | None = None, change_ids: Iterable[str] | None = None,
            limit: int | None = None) -> list[Any]:
    """In-flight rows (oldest first): every ``unknown`` one, and ``writing`` ones started at or before
    ``older_than`` (all of them when it is None)."""
    stmt = sa.select(_T).order_by(_T.c.started_at, _T.c.change_id)
    if older_than is not None:
        stmt = stmt.where(sa.or_(_T.c.state == "unknown", _T.c.started_at <= iso(older_than)))
    if change_ids is not None:
        stmt = stmt.where(_T.c.change_id.in_(list(change_ids)))
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(conn.execute(stmt))


def by_keys(conn: sa.Connection, keys: Iterable[str]) -> dict[str, Any]:
    """In-flight rows by idempotency key."""
    ordered = sorted(set(keys))
    out: dict[str, Any] = {}
    for i in range(0, len(ordered), 500):
        for row in conn.execute(sa.select(_T).where(_T.c.idempotency_key.in_(ordered[i:i + 500]))):
            out[row.idempotency_key] = row
    return out


def worker_id() -> str:
    """``host:pid:random``: lets a claim left by a process that died on this host be taken over."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"


def _dead_here(worker: str | None) -> bool:
    host, _, rest = (worker or "").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname()[:30] or not pid.isdigit():
        return False  # another host: only the lease can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def claim(engine: sa.Engine, change_id: str, worker: str, now: datetime, lease: timedelta) -> bool:
    """Take ``change_id`` for ``worker`` until ``now + lease``; False when another live worker holds
    it (or the change is no longer in flight). One conditional UPDATE, atomic on SQLite and
    PostgreSQL; a claim whose lease ran out, or whose holder died on this host, is free."""
    values = {"claimed_by": worker, "claimed_until": iso(now + lease)}
    with engine.begin() as conn:
        free = sa.or_(_T.c.claimed_until.is_(None), _T.c.claimed_until < iso(now), _T.c.claimed_by == worker)
        if conn.execute(_T.update().where(_T.c.change_id == change_id, free).values(**values)).rowcount == 1:
            return True
        holder = conn.execute(sa.select(_T.c.claimed_by).where(_T.c.change_id == change_id)).scalar()
        if holder is None or not _dead_here(holder):
            return False
        return conn.execute(_T.update().where(_T.c.change_id == change_id, _T.c.claimed_by == holder)
                            .values(**values)).rowcount == 1


def release(conn: sa.Connection, change_id: str, *, state: str | None) -> None:
    """After judging: ``state`` None removes the row (resolved), else keeps it unclaimed in ``state``."""
    if state is None:
        conn.execute(_T.delete().where(_T.c.change_id == change_id))
    else:
        conn.execute(_T.update().where(_T.c.change_id == change_id)
                     .values(state=state, claimed_by=None, claimed_until=None))
