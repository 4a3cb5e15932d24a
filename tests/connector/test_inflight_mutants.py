"""The write path's bookkeeping, pinned on a bare SQLite store and a PostgreSQL one: the idempotency rows (saved,
restated, provisional while in flight), the in-flight rows (started, finished, listed, claimed,
released) and the Outcome a caller gets back."""
from __future__ import annotations

import dataclasses
import json
import os
import socket
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from crmgate import tables
from crmgate.clock import iso
from crmgate.rules.decision import FieldChange
from crmgate.rules.violations import Violation
from crmgate.writes import inflight
from crmgate.writes.outcome import Outcome

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)
LEASE = timedelta(minutes=5)


def outcome(**kw) -> Outcome:
    base = dict(status="applied", proposal_id="prp_1", batch_id="bat_1", object="Lead", op="update", actor="ai:x")
    return Outcome(**{**base, **kw})


def rows(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        return {r.change_id: dict(r._mapping) for r in conn.execute(sa.select(tables.inflight))}


def start(engine, *ids: str, at: datetime = T0, key: str | None = None) -> None:
    with engine.begin() as conn:
        inflight.started(conn, [inflight.Started(c, "prp_1", key or f"k-{c}", "Lead", "update") for c in ids], at)


# -- Outcome ------------------------------------------------------------------------------------

def test_an_outcome_dict_leaves_out_would_error_and_replayed_unless_set():
    """to_dict always has the fourteen core keys; ``would``, ``error`` and ``replayed`` appear only
    when set (shadow, failed/conflict, a replay); ``extra`` keys are merged in."""
    plain = outcome().to_dict()
    assert set(plain) == {"status", "proposal_id", "change_id", "record_id", "object", "op", "actor", "use_case",
                          "rule", "tier", "reason", "violations", "changes", "batch_id"}
    full = outcome(would="apply", error={"code": "E"}, replayed=True, extra={"enrichment": {"a": 1}}).to_dict()
    assert (full["would"], full["error"], full["replayed"], full["enrichment"]) == ("apply", {"code": "E"}, True,
                                                                                    {"a": 1})


def test_an_outcome_survives_its_stored_form():
    """from_dict(to_dict(o)) == o, with violations, changes, an error, replayed and extra keys: a
    replayed key answers exactly what the first attempt answered."""
    o = outcome(status="failed", record_id="00Q1", change_id="chg_1", use_case="u", rule="r", tier="high",
                reason="why", violations=(Violation("bad", "Lead", "F", "msg"),),
                changes=(FieldChange("F", None, 1),), would="queue", error={"code": "E"}, replayed=True,
                extra={"note": "x"})
    assert Outcome.from_dict(json.loads(json.dumps(o.to_dict()))) == o
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.status = "applied"  # type: ignore[misc]


# -- idempotency rows ---------------------------------------------------------------------------

def test_save_outcome_inserts_then_replaces(engine):
    """The first save of a key inserts its row; a later save replaces the outcome (one row)."""
    with engine.begin() as conn:
        inflight.save_outcome(conn, "k1", "prp_1", outcome(status="in_progress"))
        inflight.save_outcome(conn, "k1", "prp_1", outcome(status="applied", record_id="00Q1"))
        stored = conn.execute(sa.select(tables.idempotency)).all()
    assert len(stored) == 1 and json.loads(stored[0].outcome)["status"] == "applied"


def test_restate_rewrites_only_a_stored_key(engine):
    """restate changes the stored outcome of an existing key; no key, or a key never stored, is
    left alone (nothing inserted)."""
    with engine.begin() as conn:
        inflight.save_outcome(conn, "k1", "prp_1", outcome(status="queued"))
        inflight.restate(conn, "k1", status="applied", record_id="00Q9")
        inflight.restate(conn, None, status="failed")
        inflight.restate(conn, "", status="failed")
        inflight.restate(conn, "never", status="failed")
        stored = {r.key: json.loads(r.outcome) for r in conn.execute(sa.select(tables.idempotency))}
    assert list(stored) == ["k1"]
    assert (stored["k1"]["status"], stored["k1"]["record_id"]) == ("applied", "00Q9")


def test_provisional_is_in_progress_with_its_own_error_copy():
    """While a write is in flight, a repeat of its key sees ``in_progress`` and the in_progress
    error (a copy: editing it does not change what the next caller sees)."""
    p = inflight.provisional(outcome(status="applied"))
    assert p.status == "in_progress" and p.error == inflight.IN_PROGRESS_ERROR
    p.error["code"] = "changed"
    assert inflight.IN_PROGRESS_ERROR["code"] == "in_progress"


# -- in-flight rows -----------------------------------------------------------------------------

def test_started_rows_are_writing_with_their_start(engine):
    """Each started write is one ``writing`` row with its key, object, op and start time; an empty
    list inserts nothing."""
    start(engine, "c1", key="key-1")
    with engine.begin() as conn:
        inflight.started(conn, [], T0)
    assert rows(engine) == {"c1": {"change_id": "c1", "proposal_id": "prp_1", "idempotency_key": "key-1",
                                   "object": "Lead", "op": "update", "state": "writing", "started_at": iso(T0),
                                   "claimed_by": None, "claimed_until": None}}


def test_finished_removes_settled_rows_and_keeps_unknown_ones_unclaimed(engine):
    """ok/conflict/failed results remove their rows; an unknown one stays, as ``unknown``, with its
    claim cleared, for reconcile. More than 500 at once are all handled (chunked statements)."""
    ids = [f"c{i:04}" for i in range(1003)]
    start(engine, *ids)
    assert inflight.claim(engine, "c0001", "w1", T0, LEASE)
    statuses = {c: ("unknown" if c in ("c0001", "c0500", "c1002") else "applied") for c in ids}
    with engine.begin() as conn:
        inflight.finished(conn, statuses)
    left = rows(engine)
    assert sorted(left) == ["c0001", "c0500", "c1002"]
    assert all((r["state"], r["claimed_by"], r["claimed_until"]) == ("unknown", None, None) for r in left.values())


def test_finished_handles_more_than_500_unknown(engine):
    """Every unknown row of a large batch is marked unknown, past the 500 of one statement."""
    ids = [f"c{i:04}" for i in range(1003)]
    start(engine, *ids)
    with engine.begin() as conn:
        inflight.finished(conn, dict.fromkeys(ids, "unknown"))
    assert {r["state"] for r in rows(engine).values()} == {"unknown"} and len(rows(engine)) == 1003


def test_pending_lists_unknown_and_old_enough_writes_oldest_first(engine):
    """pending(): every row when no age is given, oldest first (then by change id); with
    older_than, ``unknown`` rows whatever their age and ``writing`` ones started at or before it;
    change_ids and limit narrow it."""
    start(engine, "b", at=T0)
    start(engine, "a", at=T0)
    start(engine, "young", at=T0 + timedelta(minutes=10))
    start(engine, "young-unknown", at=T0 + timedelta(minutes=20))
    with engine.begin() as conn:
        inflight.finished(conn, {"young-unknown": "unknown"})
        assert [r.change_id for r in inflight.pending(conn)] == ["a", "b", "young", "young-unknown"]
        assert [r.change_id for r in inflight.pending(conn, older_than=T0)] == ["a", "b", "young-unknown"]
        assert [r.change_id for r in inflight.pending(conn, change_ids=["b", "young"])] == ["b", "young"]
        assert [r.change_id for r in inflight.pending(conn, limit=1)] == ["a"]


def test_by_keys_finds_rows_by_idempotency_key_past_500(engine):
    """by_keys maps each key to its in-flight row, for any number of keys (chunked statements)."""
    ids = [f"c{i:04}" for i in range(1003)]
    with engine.begin() as conn:
        inflight.started(conn, [inflight.Started(c, "prp_1", f"k{c}", "Lead", "create") for c in ids], T0)
        found = inflight.by_keys(conn, [f"k{c}" for c in ids] + ["nope"])
    assert len(found) == 1003 and found["kc0500"].change_id == "c0500" and found["kc1002"].change_id == "c1002"


def test_worker_ids_name_host_and_process():
    """``host:pid:random``, different on every call."""
    host, pid, rand = inflight.worker_id().split(":")
    assert host == socket.gethostname()[:30] and pid == str(os.getpid()) and len(rand) == 8
    assert inflight.worker_id() != inflight.worker_id()


def test_claims_are_exclusive_until_the_lease_runs_out(engine):
    """A free row is claimed; another live worker is refused until the lease ends (the holder may
    renew its own claim); at the lease's end exactly, the row is still held; a row not in flight
    cannot be claimed."""
    start(engine, "c1")
    live_other = f"{socket.gethostname()[:30]}:{os.getpid()}:other"
    assert inflight.claim(engine, "c1", live_other, T0, LEASE)
    assert not inflight.claim(engine, "c1", "w2", T0 + LEASE, LEASE)
    assert inflight.claim(engine, "c1", live_other, T0 + timedelta(minutes=1), LEASE)  # renew
    assert rows(engine)["c1"]["claimed_by"] == live_other
    assert inflight.claim(engine, "c1", "w2", T0 + timedelta(minutes=7), LEASE)
    assert rows(engine)["c1"]["claimed_by"] == "w2"
    assert not inflight.claim(engine, "missing", "w2", T0, LEASE)


def test_a_claim_held_on_another_host_waits_for_its_lease(engine):
    """A holder on another host cannot be checked for life: only its lease frees the row."""
    start(engine, "c1")
    assert inflight.claim(engine, "c1", "elsewhere:1:x", T0, LEASE)
    assert not inflight.claim(engine, "c1", "w2", T0 + timedelta(minutes=1), LEASE)


def test_a_holder_id_without_a_pid_is_not_taken_over(engine):
    """A holder on this host whose id carries no pid cannot be checked: it keeps its claim."""
    start(engine, "c1")
    assert inflight.claim(engine, "c1", f"{socket.gethostname()[:30]}:abc:x", T0, LEASE)
    assert not inflight.claim(engine, "c1", "w2", T0 + timedelta(minutes=1), LEASE)


def test_release_removes_or_keeps_the_row_unclaimed(engine):
    """release(state=None) removes a judged row; with a state it keeps the row in that state, claim
    cleared."""
    start(engine, "c1", "c2")
    assert inflight.claim(engine, "c2", "w1", T0, LEASE)
    with engine.begin() as conn:
        inflight.release(conn, "c1", state=None)
        inflight.release(conn, "c2", state="unknown")
    assert list(rows(engine)) == ["c2"]
    assert (rows(engine)["c2"]["state"], rows(engine)["c2"]["claimed_by"], rows(engine)["c2"]["claimed_until"]) == (
        "unknown", None, None)


def test_a_started_write_is_frozen():
    """What the in-flight row will record cannot be altered between building and inserting it."""
    s = inflight.Started("c1", "prp_1", None, "Lead", "create")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.op = "delete"  # type: ignore[misc]


def _dead_pid() -> int:
    import subprocess
    import sys

    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)


def test_a_dead_holder_is_found_on_a_host_with_a_long_name(engine, monkeypatch):
    """Worker ids keep the first 30 characters of the host name; a claim left by a dead process on
    this host is taken over also when the host's name is longer than that."""
    monkeypatch.setattr(socket, "gethostname", lambda: "h" * 40)
    assert inflight.worker_id().split(":")[0] == "h" * 30  # fits the claimed_by column with pid and random
    start(engine, "c1")
    assert inflight.claim(engine, "c1", f"{'h' * 30}:{_dead_pid()}:x", T0, LEASE)
    assert inflight.claim(engine, "c1", "w2", T0 + timedelta(minutes=1), LEASE)


def test_a_holder_this_process_may_not_signal_is_alive(engine, monkeypatch):
    """A process that exists but belongs to another user (the OS answers EPERM to the liveness
    probe) is alive: its claim stands until the lease runs out."""
    def not_permitted(pid: int, sig: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    start(engine, "c1")
    holder = f"{socket.gethostname()[:30]}:{_dead_pid()}:x"
    assert inflight.claim(engine, "c1", holder, T0, LEASE)
    monkeypatch.setattr(os, "kill", not_permitted)
    assert not inflight.claim(engine, "c1", "w2", T0 + timedelta(minutes=1), LEASE)
    assert rows(engine)["c1"]["claimed_by"] == holder


def test_the_liveness_probe_sends_no_signal(engine):
    """Checking whether a claim's holder on this host is alive must not disturb it: the probe is
    signal 0. A live holder (a child process that dies on SIGHUP, SIGINT or SIGTERM) keeps its
    claim and is still running and answering afterwards."""
    import subprocess
    import sys

    code = ("import signal, sys\n"
            "for s in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM): signal.signal(s, signal.SIG_DFL)\n"
            "print('ready', flush=True)\n"
            "print(sys.stdin.readline().strip(), flush=True)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        start(engine, "c1")
        assert inflight.claim(engine, "c1", f"{socket.gethostname()[:30]}:{child.pid}:x", T0, LEASE)
        assert not inflight.claim(engine, "c1", "w2", T0 + timedelta(minutes=1), LEASE)
        out, _ = child.communicate("still here\n", timeout=30)
        assert (child.returncode, out.strip()) == (0, "still here")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


# -- batched idempotency rows (claim_keys, save_outcomes) -------------------------------------------

def _stored(engine) -> dict[str, tuple[str, dict]]:
    with engine.connect() as conn:
        return {r.key: (r.proposal_id, json.loads(r.outcome)) for r in conn.execute(sa.select(tables.idempotency))}


def test_claim_keys_holds_new_keys_and_leaves_taken_ones_past_500(engine):
    """claim_keys claims every key nobody holds and returns exactly those; a key another
    proposal already holds stays theirs (not returned, its row untouched), for any number of keys
    (chunked look-ups); no keys claims nothing."""
    taken = {f"k{i:04}" for i in (0, 499, 500, 1000, 1002)}
    with engine.begin() as conn:
        assert inflight.claim_keys(conn, {}) == set()
        assert inflight.claim_keys(conn, dict.fromkeys(taken, "prp_other")) == taken
    keys = [f"k{i:04}" for i in range(1003)]
    with engine.begin() as conn:
        held = inflight.claim_keys(conn, dict.fromkeys(keys, "prp_1"))
    assert held == set(keys) - taken
    stored = _stored(engine)
    assert len(stored) == 1003
    assert {k for k, (p, _) in stored.items() if p == "prp_other"} == taken


def test_save_outcomes_replaces_stored_keys_and_inserts_new_ones_past_500(engine):
    """save_outcomes gives every key its own outcome, one row each: a key already stored gets the
    new outcome (keeping the proposal id that claimed it), a new key is inserted with its proposal
    id; any number of keys (chunked look-ups); an empty list writes nothing."""
    old = [f"k{i:04}" for i in range(1003)]
    with engine.begin() as conn:
        inflight.save_outcomes(conn, [])
        for k in old:
            inflight.save_outcome(conn, k, "prp_old", outcome(status="in_progress"))
    items = [(k, "prp_new", outcome(record_id=k)) for k in ["new-a", *old, "new-b"]]
    with engine.begin() as conn:
        inflight.save_outcomes(conn, items)
    stored = _stored(engine)
    assert len(stored) == 1005
    assert all((o["status"], o["record_id"]) == ("applied", k) for k, (_, o) in stored.items())
    assert {k for k, (p, _) in stored.items() if p == "prp_new"} == {"new-a", "new-b"}


def test_save_outcomes_inserts_when_nothing_is_stored(engine):
    """With no key stored yet, save_outcomes inserts every one (no update is attempted)."""
    with engine.begin() as conn:
        inflight.save_outcomes(conn, [("k1", "prp_1", outcome(status="in_progress"))])
    assert _stored(engine) == {"k1": ("prp_1", outcome(status="in_progress").to_dict())}


@pytest.mark.postgres
def test_claim_keys_on_postgresql(pg_url):
    """On PostgreSQL too (its own INSERT ... ON CONFLICT DO NOTHING), claim_keys claims the free
    keys and leaves a held one to its holder."""
    eng = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        tables.metadata.create_all(eng)
        with eng.begin() as conn:
            assert inflight.claim_keys(conn, {"k1": "prp_other"}) == {"k1"}
        with eng.begin() as conn:
            assert inflight.claim_keys(conn, {"k1": "prp_1", "k2": "prp_1"}) == {"k2"}
        assert _stored(eng) == {"k1": ("prp_other", {}), "k2": ("prp_1", {})}
    finally:
        eng.dispose()
