"""A pipelined chunk's intents are committed without waiting for the disk, and its call's worker
makes them durable (``durable.sync``) before the call: the wait overlaps the next decisions."""
from __future__ import annotations

import sqlite3
import threading
from contextlib import closing

import pytest

from crmgate.trail import TrailStore, verify_store
from crmgate.writes import durable
from crmgate.writes.intake import coerce
from crmgate.writes.pipeline import WritePath
from tests.connector.conftest import lead
from tests.connector.test_chunks import Chunked, _open_writes


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
