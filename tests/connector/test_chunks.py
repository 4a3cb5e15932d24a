"""Chunk pipelining (crmgate.writes.chunks): chunk k+1 is decided and its intents committed while
chunk k's call is in flight; intents still precede every call, outcomes keep submission order, and
failures, adapter bugs and a killed process leave every sent write accounted for; a chunk's intents
are made durable by its worker before its call."""
from __future__ import annotations

import inspect
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

import pytest

from crmgate import tables
from crmgate.adapters.errors import CRMValidationError, UnavailableError
from crmgate.adapters.sandbox.adapter import SandboxAdapter
from crmgate.trail import TrailStore, verify_store
from crmgate.writes import chunks, durable, inflight
from crmgate.writes.intake import coerce
from crmgate.writes.pipeline import WritePath
from crmgate.writes.plan import Plan
from tests.connector.conftest import hygiene, lead, opp

WAIT = 10  # seconds; only reached when the behaviour under test is broken


class Chunked(SandboxAdapter):
    """The sandbox as a remote CRM: chunks of 10, ``write_lanes`` calls in flight. Each write call
    first runs ``before_call(kind, requests)`` (in the worker thread), which may block or raise."""

    max_batch = 10
    write_lanes = 2

    def __init__(self, *args, before_call=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.before_call = before_call or (lambda kind, reqs: None)
        self.threads: set[str] = set()

    def _hook(self, kind, reqs):
        self.threads.add(threading.current_thread().name)
        self.before_call(kind, reqs)

    def create_many(self, object, requests):
        self._hook("create", requests)
        return super().create_many(object, requests)

    def update_many(self, object, requests):
        self._hook("update", requests)
        return super().update_many(object, requests)


def _committed(gate, kind: str) -> dict[str, str]:
    """change id -> proposal id of the committed entries of ``kind`` (read from another connection)."""
    return {e.change_id: e.proposal_id for e in gate.store.query(kinds=[kind])}


def _open_writes(gate) -> list:
    with gate.store.engine.connect() as conn:
        return inflight.pending(conn)


def test_the_next_chunk_is_decided_and_sent_while_one_is_in_flight(make_gate, tmp_path, clock, keypair):
    """The first call waits until the second call has started: only a pipeline gets there (a round
    decided whole, or one chunk at a time, would time out). Every call finds the intents of all it
    sends already committed; outcomes come back in submission order; the trail verifies."""
    second_started = threading.Event()
    calls: list[int] = []
    gates: list = []
    unseen: list[str] = []

    def before_call(kind, reqs):
        committed = _committed(gates[0], "write.intent")
        unseen.extend(r.idempotency_key for r in reqs if r.idempotency_key not in committed)
        calls.append(len(reqs))
        if len(calls) == 1:
            assert second_started.wait(WAIT), "the next chunk was not sent while this one was in flight"
        else:
            second_started.set()

    crm = Chunked(tmp_path / "crm.db", clock=clock, before_call=before_call)
    gate = make_gate(crm)
    gates.append(gate)
    outs = gate.propose([lead(LastName=f"L{i}") for i in range(45)])
    assert [o.status for o in outs] == ["applied"] * 45
    assert sorted(calls) == [5, 10, 10, 10, 10] and not unseen
    assert all(name.startswith("crmgate-chunk") for name in crm.threads)
    records = crm.get_many("Lead", [o.record_id for o in outs])
    assert [records[o.record_id].fields["LastName"] for o in outs] == [f"L{i}" for i in range(45)]
    for o in outs:  # each change: decided, intent, result, in that order
        assert [e.kind for e in gate.store.entries_for(change_id=o.change_id)] == [
            "proposal.decided", "write.intent", "write.result"]
    assert not _open_writes(gate)
    assert verify_store(gate.store, keypair[1]).ok


def test_small_rounds_and_the_embedded_sandbox_are_not_pipelined(make_gate, sandbox, tmp_path, clock):
    """A round that fits the lanes is one adapter call (chunked by the adapter), decided whole;
    the sandbox, whose calls are work in this process, is never pipelined."""
    assert chunks.lanes(sandbox) == 0
    crm = Chunked(tmp_path / "crm.db", clock=clock)
    gate = make_gate(crm)
    outs = gate.propose([lead(LastName=f"L{i}") for i in range(20)])  # 2 chunks, 2 lanes
    assert {o.status for o in outs} == {"applied"} and crm.threads == {threading.current_thread().name}
    plans = [Plan(i, None, f"p{i}") for i in range(41)]  # type: ignore[arg-type]
    assert [len(c) for c in chunks.split(plans, 10, 2)] == [10, 10, 10, 11]  # a lone last one joins
    assert [len(c) for c in chunks.split(plans[:40], 10, 2)] == [10] * 4
    assert [len(c) for c in chunks.split(plans[:30], 10, 3)] == [30]
    assert [len(c) for c in chunks.split(plans[:30], 10, 1)] == [10] * 3
    assert [len(c) for c in chunks.split(plans[:20], 10, 1)] == [20]
    assert [len(c) for c in chunks.split(plans, 10, 0)] == [41]


def test_a_chunk_refused_whole_stops_the_later_chunks(make_gate, tmp_path, clock):
    """One call in flight at a time: chunk 1 is written, chunk 2 is refused as a whole call, chunks
    3-5 are decided and recorded but never sent (``not_sent``: certainly not applied, so failed);
    every intent has its result and no write is left open."""
    calls: list[int] = []

    def before_call(kind, reqs):
        calls.append(len(reqs))
        if len(calls) == 2:
            raise CRMValidationError("the org refused the call", code="INVALID_FIELD")

    crm = Chunked(tmp_path / "crm.db", clock=clock, before_call=before_call)
    crm.write_lanes = 1
    gate = make_gate(crm)
    outs = gate.propose([lead(LastName=f"L{i}") for i in range(50)])
    assert calls == [10, 10]
    assert [o.status for o in outs] == ["applied"] * 10 + ["failed"] * 40
    assert {o.error["code"] for o in outs[10:]} == {"INVALID_FIELD"}
    assert [bool((o.error.get("details") or {}).get("not_sent")) for o in outs[10:]] == [False] * 10 + [True] * 30
    assert set(_committed(gate, "write.intent")) == set(_committed(gate, "write.result")) == {o.change_id for o in outs}
    assert not _open_writes(gate)
    assert len(crm.find_created("Lead", [o.change_id for o in outs]) or {}) == 10


def test_a_chunk_whose_answer_is_lost_is_unknown_and_the_rest_not_sent(make_gate, tmp_path, clock):
    """An ambiguous whole-call failure (written, answer lost) makes that chunk ``unknown`` (left in
    flight for reconcile); the chunks after it are not sent and are ``failed``, never ``unknown``."""
    calls: list[int] = []

    def before_call(kind, reqs):
        calls.append(len(reqs))
        if len(calls) == 2:
            lost = UnavailableError("connection reset after sending", code="connection_error")
            lost.ambiguous = True
            raise lost

    crm = Chunked(tmp_path / "crm.db", clock=clock, before_call=before_call)
    crm.write_lanes = 1
    gate = make_gate(crm)
    outs = gate.propose([lead(LastName=f"L{i}") for i in range(40)])
    assert [o.status for o in outs] == ["applied"] * 10 + ["unknown"] * 10 + ["failed"] * 20
    assert all(o.error["details"].get("not_sent") and "ambiguous" not in o.error for o in outs[20:])
    assert sorted(r.change_id for r in _open_writes(gate)) == sorted(o.change_id for o in outs[10:20])


def test_an_adapter_bug_mid_pipeline_is_recorded_then_raised(make_gate, tmp_path, clock):
    """A bug in the adapter (not a CRMError) during chunk 2: no chunk after it is sent, every intent
    committed gets a result (chunk 2: unknown outcome; later ones: not sent), then it surfaces."""
    calls: list[int] = []

    def before_call(kind, reqs):
        calls.append(len(reqs))
        if len(calls) == 2:
            raise ZeroDivisionError("bug")

    crm = Chunked(tmp_path / "crm.db", clock=clock, before_call=before_call)
    crm.write_lanes = 1
    gate = make_gate(crm)
    with pytest.raises(ZeroDivisionError):
        gate.propose([lead(LastName=f"L{i}") for i in range(60)])
    assert calls == [10, 10]
    intents, results = _committed(gate, "write.intent"), gate.store.query(kinds=["write.result"])
    assert {e.change_id for e in results} == set(intents)
    codes = [e.data["status"] + ":" + ((e.data["error"] or {}).get("code") or "") for e in results]
    assert codes[:10] == ["ok:"] * 10 and codes[10:20] == ["unknown:unknown_outcome"] * 10
    assert set(codes[20:]) <= {"failed:not_sent"}
    assert len(_open_writes(gate)) == 10


def test_keys_and_queued_changes_across_chunks(make_gate, tmp_path, clock, store_url, keypair):
    """Idempotency and approval-queue rows ride in each chunk's own transaction: queued changes of
    any chunk are listed, and repeating the batch replays every final outcome (none in_progress);
    on SQLite and PostgreSQL."""
    crm = Chunked(tmp_path / "crm.db", clock=clock)
    gate = make_gate(crm, url=store_url)
    deals = [o.record_id for o in gate.propose([opp(Name=f"D{i}") for i in range(12)])]
    batch = []
    for i in range(48):
        p = hygiene(deals[i // 4], ForecastCategoryName="Commit") if i % 4 == 0 else lead(LastName=f"K{i}")
        batch.append({**p, "idempotency_key": f"k-{i}"})
    outs = gate.propose(batch)
    assert [o.status for o in outs] == ["queued" if i % 4 == 0 else "applied" for i in range(48)]
    assert {q.change_id for q in gate.approvals(status="pending")} == {o.change_id for o in outs[::4]}
    again = gate.propose(batch)
    assert [(a.status, a.change_id, a.replayed) for a in again] == [(o.status, o.change_id, True) for o in outs]
    with gate.store.engine.connect() as conn:
        stored = tables.stored_outcomes(conn, {f"k-{i}" for i in range(48)})
    assert sorted(v["status"] for v in stored.values()) == ["applied"] * 36 + ["queued"] * 12
    assert not _open_writes(gate) and verify_store(gate.store, keypair[1]).ok


def test_same_record_proposals_still_run_in_rounds(make_gate, tmp_path, clock):
    """Two updates of each of 25 records in one batch: the second of each runs in the next round,
    on the first one's result, in submission order."""
    crm = Chunked(tmp_path / "crm.db", clock=clock)
    gate = make_gate(crm)
    deals = [o.record_id for o in gate.propose([opp(Name=f"D{i}") for i in range(25)])]
    outs = gate.propose([hygiene(d, NextStep=f"{step}-{d}") for step in ("one", "two") for d in deals])
    assert {o.status for o in outs} == {"applied"}
    assert [o.changes[0].before for o in outs[25:]] == [f"one-{d}" for d in deals]
    now = crm.get_many("Opportunity", deals)
    assert [now[d].fields["NextStep"] for d in deals] == [f"two-{d}" for d in deals]


_WORKER = """
import itertools, os, signal, sys
from pathlib import Path
from crmgate.gate import Gate
from crmgate.project.scaffold import example_rulebook
from crmgate.rules.loader import parse_rulebook
from crmgate.trail import TrailStore, load_signer
from tests.connector.test_chunks import Chunked

work = Path(sys.argv[1])
calls = itertools.count(1)  # next() is atomic: two lanes' calls never both see the third

def before_call(kind, reqs):
    n = next(calls)
    with open(work / "sent.txt", "a") as f:
        f.write("".join(r.idempotency_key + "\\n" for r in reqs))
        f.flush()
        os.fsync(f.fileno())
    if n == 3:  # mid-pipeline: chunks 1-2 sent, later ones decided or not
        os.kill(os.getpid(), signal.SIGKILL)

crm = Chunked(work / "crm.db", before_call=before_call)
store = TrailStore(f"sqlite:///{work / 'trail.db'}", signer=load_signer(work / "trail.key", env={}))
gate = Gate(rulebook=parse_rulebook(example_rulebook()), adapter=crm, store=store)
gate.propose([{"object": "Lead", "op": "create", "actor": "ai:lead-intake-1", "idempotency_key": f"c-{i}",
               "fields": {"LastName": f"C{i}", "Company": "Initech"}} for i in range(60)])
"""


def test_a_process_killed_mid_pipeline_leaves_every_sent_write_recorded(tmp_path, keypair, rulebook):
    """SIGKILL during the third chunk's call: every write the CRM received has its intent committed,
    the trail verifies, reconcile settles every open write, and repeating the batch with the same
    keys makes each record exactly once."""
    from crmgate.gate import Gate

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", _WORKER, str(tmp_path)], cwd=root, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    sent = (tmp_path / "sent.txt").read_text().split()
    assert len(sent) >= 20
    store = TrailStore(f"sqlite:///{tmp_path / 'trail.db'}", signer=keypair[0])
    gate = Gate(rulebook=rulebook, adapter=Chunked(tmp_path / "crm.db"), store=store)
    try:
        assert verify_store(store, keypair[1]).ok
        intents = _committed(gate, "write.intent")
        assert set(sent) <= set(intents)
        assert _open_writes(gate)  # the crash left writes without results
        gate.reconcile()
        assert not _open_writes(gate)
        outs = gate.propose([{"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
                              "idempotency_key": f"c-{i}", "fields": {"LastName": f"C{i}", "Company": "Initech"}}
                             for i in range(60)])
        assert {o.status for o in outs} == {"applied"}
        names = [r.fields["LastName"] for r in gate.adapter.get_many(
            "Lead", [o.record_id for o in outs]).values()]
        assert sorted(names) == sorted(f"C{i}" for i in range(60))
        assert len({o.record_id for o in outs}) == 60
        assert verify_store(store, keypair[1]).ok
    finally:
        store.close()


def test_chunk_calls_run_in_the_callers_log_context(make_gate, tmp_path, clock):
    """A pipelined call runs in a worker thread with the caller's bound log fields (the HTTP
    request id), so the adapter's log lines still name the request."""
    import structlog

    seen: list[dict] = []
    crm = Chunked(tmp_path / "crm.db", clock=clock,
                  before_call=lambda kind, reqs: seen.append(structlog.contextvars.get_contextvars()))
    gate = make_gate(crm)
    with structlog.contextvars.bound_contextvars(request_id="req-7"):
        gate.propose([lead(LastName=f"L{i}") for i in range(40)])
    assert len(seen) == 4 and all(s.get("request_id") == "req-7" for s in seen)
    assert crm.threads and threading.current_thread().name not in crm.threads


def _plans(n: int) -> list[Plan]:
    return [Plan(i, None, f"p{i}", write=True) for i in range(n)]  # type: ignore[arg-type]


def _ok(writes, stops=None):
    from crmgate.writes.send import Sent
    from crmgate.adapters.base import WriteResult

    return Sent({p.index: WriteResult(status="ok") for p in writes})


def test_the_drain_appends_what_came_back_while_a_later_call_is_out():
    """Waiting for the last calls, the results that already came back are appended first (the
    append overlaps the wait), not held until every call is back."""
    from collections import deque
    from concurrent.futures import Future

    first, second = Future(), Future()
    plans = _plans(2)
    first.set_result(_ok(plans[:1]))
    appended: list[list[int]] = []

    def finish(landed):
        appended.append([p.index for writes, _ in landed for p in writes])
        if not second.done():
            second.set_result(_ok(plans[1:]))  # the call comes back after the first append

    fallback = threading.Timer(WAIT, lambda: second.done() or second.set_result(_ok(plans[1:])))
    fallback.start()
    try:
        chunks._drain(deque([(plans[:1], first), (plans[1:], second)]), [], finish, quiet=False)
    finally:
        fallback.cancel()
    assert appended == [[0], [1]]


def test_a_failed_append_keeps_its_own_error_when_the_results_cannot_be_recorded_either():
    """The store fails mid-pipeline (a chunk's append raises): the calls in flight are awaited, their
    results are tried once more (that fails too, and is logged), and the caller sees the append's
    original error, not the second one."""
    from structlog.testing import capture_logs

    commits: list[int] = []

    def commit(chunk, landed):
        commits.append(chunk[0].index)
        if len(commits) == 2:
            raise ValueError("the trail store went away")

    def finish(landed):
        raise RuntimeError("still away")

    with capture_logs() as logs, pytest.raises(ValueError, match="went away"):
        chunks.run_chunks(chunks.split(_plans(30), 10, 1), commit=commit, send=_ok, finish=finish, lanes=1)
    assert commits == [0, 10]
    assert [e["event"] for e in logs] == ["chunks.results_not_recorded"] and logs[0]["changes"] == 10


def test_lanes_are_the_adapters_write_lanes_only():
    """``write_lanes`` is the adapter contract's word on pipelining, and the only one read: an
    adapter's kind or its settings' ``concurrency`` do not count; a negative value means none."""
    from types import SimpleNamespace as NS

    from crmgate.adapters.base import Adapter

    assert Adapter.write_lanes == 1  # the contract's default: one call in flight
    assert chunks.lanes(NS(kind="sandbox", write_lanes=3)) == 3
    assert chunks.lanes(NS(kind="salesforce", settings=NS(concurrency=4), write_lanes=2)) == 2
    assert chunks.lanes(NS(kind="salesforce", settings=NS(concurrency=4), write_lanes=0)) == 0
    assert chunks.lanes(NS(kind="hubspot", write_lanes=-1)) == 0


def test_the_sandbox_says_no_lanes_and_salesforce_its_concurrency(tmp_path):
    """The embedded sandbox's calls are work in this process (0 lanes); Salesforce keeps
    ``crm.concurrency`` calls in flight, and setting ``write_lanes`` on it turns pipelining off (as
    ``benchmarks/bench_salesforce.py`` does)."""
    from crmgate.adapters.salesforce.adapter import SalesforceAdapter
    from tests.fakes.salesforce_fake import SESSION_ID, SalesforceFake

    with SandboxAdapter(tmp_path / "crm.db") as sandbox:
        assert chunks.lanes(sandbox) == 0
    with SalesforceFake() as fake:
        for concurrency in (1, 3):
            sf = SalesforceAdapter.from_settings({"instance_url": fake.url, "concurrency": concurrency},
                                                 env={"SALESFORCE_SESSION_ID": SESSION_ID})
            assert chunks.lanes(sf) == concurrency
            sf.write_lanes = 0
            assert chunks.lanes(sf) == 0
            sf.close()


def test_one_lane_means_one_call_at_a_time():
    """With one lane, a chunk's call waits for the call before it: the second chunk is submitted
    while the first call is still out, and still runs on the same single worker after it."""
    released = threading.Event()
    ran: list[tuple[int, str]] = []

    def send(writes, stops):
        ran.append((writes[0].index, threading.current_thread().name))
        if writes[0].index == 0:
            assert released.wait(WAIT)
        return _ok(writes)

    def commit(chunk, landed):
        if chunk[0].index == 20:  # the third commit: chunk 1 was submitted while call 0 was out
            released.set()

    chunks.run_chunks(chunks.split(_plans(30), 10, 1), commit=commit, send=send, finish=lambda landed: None,
                      lanes=1)
    assert [i for i, _ in ran] == [0, 10, 20] and len({name for _, name in ran}) == 1


def test_calls_not_started_when_the_batch_stops_are_recorded_as_not_sent():
    """A call still queued when the batch stops is cancelled: its records fail as ``not_sent``
    (certainly not applied), with that marked in the error's details."""
    from collections import deque
    from concurrent.futures import Future

    plans = _plans(3)
    recorded: list = []
    queued: Future = Future()
    fallback = threading.Timer(WAIT, lambda: queued.done() or queued.set_result(_ok(plans)))  # no hang if broken
    fallback.start()
    try:
        chunks._drain(deque([(plans, queued)]), [], recorded.extend, quiet=True)
    finally:
        fallback.cancel()
    (writes, sent), = recorded
    assert writes == plans
    errors = [sent.results[p.index].error for p in plans]
    assert {(sent.results[p.index].status, e.code, e.details.get("not_sent"), e.ambiguous) for p, e in
            zip(plans, errors)} == {("failed", "not_sent", True, False)}



def test_results_that_came_back_together_are_appended_together():
    """The drain appends in as few transactions as the waits allow: results already back, and a
    call that is back too, go in one append; an append is never made with nothing in it."""
    from collections import deque
    from concurrent.futures import Future

    plans = _plans(3)
    back, also_back = Future(), Future()
    back.set_result(_ok(plans[1:2]))
    also_back.set_result(_ok(plans[2:]))
    appended: list[list[int]] = []
    chunks._drain(deque([(plans[1:2], back), (plans[2:], also_back)]), [(plans[:1], _ok(plans[:1]))],
                  lambda landed: appended.append([p.index for writes, _ in landed for p in writes]), quiet=False)
    assert appended == [[0, 1, 2]]
    chunks._drain(deque(), [], lambda landed: appended.append([]), quiet=False)
    assert appended == [[0, 1, 2]]


def test_the_drain_sends_a_call_still_queued_when_nothing_went_wrong():
    """At the end of a healthy batch a chunk whose call has not started yet is still sent (only a
    stopping batch cancels queued calls), even when earlier results are waiting to be appended."""
    from collections import deque
    from concurrent.futures import Future

    plans = _plans(2)
    queued: Future = Future()
    recorded: list = []

    def finish(landed):
        recorded.extend(landed)
        if not queued.done():
            queued.set_result(_ok(plans[1:]))  # the worker got to it meanwhile

    fallback = threading.Timer(WAIT, lambda: queued.done() or queued.set_result(_ok(plans[1:])))
    fallback.start()
    try:
        chunks._drain(deque([(plans[1:], queued)]), [(plans[:1], _ok(plans[:1]))], finish, quiet=False)
    finally:
        fallback.cancel()
    assert [(w[0].index, s.results[w[0].index].status) for w, s in recorded] == [(0, "ok"), (1, "ok")]


def test_an_adapter_bug_found_while_draining_cancels_the_calls_behind_it():
    """Waiting for the last calls, one comes back with an adapter bug: calls queued behind it are
    cancelled (recorded not sent), not sent after the bug."""
    from collections import deque
    from concurrent.futures import Future

    plans = _plans(2)
    buggy, queued = Future(), Future()
    buggy.set_result(chunks.Sent({0: _ok(plans[:1]).results[0]}, unexpected=ZeroDivisionError("bug")))
    fallback = threading.Timer(WAIT, lambda: queued.done() or queued.set_result(_ok(plans[1:])))
    fallback.start()
    recorded: list = []
    try:
        chunks._drain(deque([(plans[:1], buggy), (plans[1:], queued)]), [], recorded.extend, quiet=False)
    finally:
        fallback.cancel()
    assert queued.cancelled() and recorded[1][1].results[1].error.code == "not_sent"


# -- a pipelined chunk is made durable by its worker, before its call (writes/durable.py) -----------
def _path(gate, sync) -> WritePath:
    """The gate's write path with ``sync`` in place of durable.sync."""
    return WritePath(rulebook=gate.rulebook, adapter=gate.adapter, store=gate.store, clock=gate.clock,
                     ids=gate.ids, sync=sync)


def test_each_chunk_is_made_durable_in_its_worker_before_its_call(make_gate, tmp_path, clock, keypair):
    """Sync, then call, chunk after chunk, in the worker thread; each sync comes after its chunk's
    intents committed; the appends themselves never wait for the disk (no flush of their own)."""
    events: list[tuple[str, str, int]] = []

    def sync(store):  # counts the committed intents on a connection of its own, outside the store
        with closing(sqlite3.connect(tmp_path / "trail.db")) as conn:
            (n,) = conn.execute("SELECT count(*) FROM trail_entries WHERE kind = 'write.intent'").fetchone()
        events.append(("sync", threading.current_thread().name, n))

    def before_call(kind, reqs):
        events.append(("call", threading.current_thread().name, len(reqs)))

    crm = Chunked(tmp_path / "crm.db", clock=clock, before_call=before_call)
    crm.write_lanes = 1
    gate = make_gate(crm)
    flushes = gate.store.lock_stats.flushes
    outs = _path(gate, sync).run(coerce([lead(LastName=f"L{i}") for i in range(45)]))
    assert [o.status for o in outs] == ["applied"] * 45
    assert [e[0] for e in events] == ["sync", "call"] * 5
    assert all(name.startswith("crmgate-chunk") for _, name, _ in events)
    seen = [n for what, _, n in events if what == "sync"]  # intents committed when each chunk synced
    assert all(n >= min(10 * (k + 1), 45) for k, n in enumerate(seen)), seen
    assert gate.store.lock_stats.flushes == flushes
    assert not _open_writes(gate) and verify_store(gate.store, keypair[1]).ok


def test_a_round_of_one_chunk_waits_for_the_disk_in_its_append(make_gate, tmp_path, clock):
    """Not pipelined: the intents' append is durable itself and nothing else syncs."""
    synced: list[object] = []
    gate = make_gate(Chunked(tmp_path / "crm.db", clock=clock))
    flushes = gate.store.lock_stats.flushes
    outs = _path(gate, synced.append).run(coerce([lead(LastName=f"L{i}") for i in range(5)]))
    assert {o.status for o in outs} == {"applied"} and synced == []
    assert gate.store.lock_stats.flushes == flushes + 1


def test_a_failed_sync_sends_nothing_more(make_gate, tmp_path, clock, keypair):
    """When the trail cannot be flushed, that chunk's call and every later one are not made: their
    writes fail ``not_sent`` (certainly not applied), with their results recorded."""
    calls: list[int] = []
    syncs: list[int] = []

    def sync(store):
        syncs.append(1)
        if len(syncs) == 2:
            raise OSError("disk gone")

    crm = Chunked(tmp_path / "crm.db", clock=clock, before_call=lambda kind, reqs: calls.append(len(reqs)))
    crm.write_lanes = 1
    gate = make_gate(crm)
    outs = _path(gate, sync).run(coerce([lead(LastName=f"L{i}") for i in range(40)]))
    assert calls == [10]
    assert [o.status for o in outs] == ["applied"] * 10 + ["failed"] * 30
    assert {o.error["code"] for o in outs[10:]} == {"not_sent"}
    assert all(o.error["details"]["not_sent"] for o in outs[10:])
    assert "could not be flushed" in outs[10].error["message"]
    assert not _open_writes(gate) and verify_store(gate.store, keypair[1]).ok
    assert crm.get_many("Lead", [o.record_id for o in outs[10:] if o.record_id]) == {}


@pytest.mark.parametrize("kind", ["file", "memory", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_sync_runs_on_every_store(kind, tmp_path, keypair, request):
    """durable.sync on a SQLite file (its WAL), an in-memory SQLite store (nothing to flush) and
    PostgreSQL (a commit of its own): it returns, and the store keeps appending."""
    from crmgate.trail import NewEntry

    url = {"file": f"sqlite:///{tmp_path / 'trail.db'}", "memory": "sqlite://"}.get(kind) \
        or request.getfixturevalue("pg_url").replace("postgresql://", "postgresql+psycopg://", 1)
    with TrailStore(url, signer=keypair[0]) as store:
        store.append([NewEntry(kind="x")], durable=False)
        durable.sync(store)
        store.append([NewEntry(kind="y")])
        assert [e.kind for e in store.iter_entries()] == ["x", "y"]


def test_send_without_a_round_makes_no_call_when_sync_fails(tmp_path):
    """send() on its own (no stops shared with other chunks): a failed sync still sends nothing."""
    from crmgate.rules.proposal import Proposal
    from crmgate.writes.plan import Plan
    from crmgate.writes.send import send

    def sync():
        raise OSError("disk gone")

    crm = Chunked(tmp_path / "crm.db", before_call=lambda kind, reqs: pytest.fail("a call went out"))
    plan = Plan(0, Proposal.model_validate(lead(LastName="L")), "prp_1", change_id="chg_1", write=True,
                send={"LastName": "L", "Company": "Initech"})
    sent = send(crm, [plan], None, sync=sync)
    assert sent.results[0].status == "failed" and sent.results[0].error.code == "not_sent"
    assert sent.unexpected is None and crm.calls == []


@pytest.mark.skipif("seal" not in inspect.signature(TrailStore.append).parameters,
                    reason="this trail store signs every append")
def test_a_pipelined_round_signs_every_append(make_gate, tmp_path, clock, keypair):
    """Each chunk's append is sealed: its checkpoint is in before its call goes out (an unsealed
    intent is only for a round whose results' append follows at once, unpipelined)."""
    gates: list = []
    unsealed: list[bool] = []
    crm = Chunked(tmp_path / "crm.db", clock=clock, before_call=lambda kind, reqs: unsealed.append(gates[0].store.unsealed))
    gates.append(make_gate(crm))
    outs = gates[0].propose([lead(LastName=f"L{i}") for i in range(45)])
    assert [o.status for o in outs] == ["applied"] * 45
    assert unsealed == [False] * 5
    assert verify_store(gates[0].store, keypair[1]).ok
