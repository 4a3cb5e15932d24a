"""Reconcile: intents without results and unknown writes end applied, re-driven, failed or listed."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from crmgate import tables
from crmgate.adapters.sandbox.faults import ProcessKilled
from crmgate.audit.status import summarize
from crmgate.writes import inflight
from tests.connector.conftest import lead


def _crash(gate, sandbox, proposal, *, method="create_many", after_write: bool):
    """The process dies inside the CRM call: before the call lands, or after it (reply unheard)."""
    sandbox.inject_fault(method, code="process_killed", whole_call=True, after_write=after_write)
    with pytest.raises(ProcessKilled):
        gate.propose(proposal)


def _status(gate, change_id):
    entries = gate.store.entries_for(change_id=change_id)
    return summarize(gate.store.entries_for(proposal_id=entries[0].proposal_id))


def _leads(sandbox):
    with sandbox._transaction() as conn:  # test-side count of every live Lead in the sandbox file
        return conn.execute("SELECT COUNT(*) FROM sandbox_records WHERE object='Lead' AND is_deleted=0").fetchone()[0]


def test_a_create_that_landed_before_the_crash_is_reconciled_as_applied(gate, sandbox):
    """Found under its idempotency key: write.reconciled ok with the record's version; the key replays it."""
    _crash(gate, sandbox, {**lead(), "idempotency_key": "k1"}, after_write=True)
    [pending] = gate.reconcile(dry_run=True).items
    assert pending.verdict == "planned" and "applied" in pending.reason
    report = gate.reconcile()
    [v] = report.items
    assert (v.verdict, v.status) == ("applied", "applied") and report.unresolved == []
    view = _status(gate, v.change_id)
    assert view["status"] == "applied" and view["record_id"] == v.record_id
    rec = sandbox.get_many("Lead", [v.record_id])[v.record_id]
    entry = gate.store.entries_for(change_id=v.change_id)[-1]
    assert entry.kind == "write.reconciled" and entry.data["version"] == rec.version
    again = gate.propose({**lead(), "idempotency_key": "k1"})[0]
    assert again.replayed and again.status == "applied" and again.record_id == v.record_id
    assert _leads(sandbox) == 1
    assert gate.reconcile().items == ()  # idempotent: nothing left to judge


def test_a_create_that_never_landed_is_driven_again_once(gate, sandbox):
    """Not applied and still allowed: written again with the same change id and key, exactly once."""
    _crash(gate, sandbox, {**lead(), "idempotency_key": "k2"}, after_write=False)
    assert _leads(sandbox) == 0
    [v] = gate.reconcile().items
    assert (v.verdict, v.status) == ("redriven", "applied")
    assert _leads(sandbox) == 1
    kinds = [e.kind for e in gate.store.entries_for(change_id=v.change_id)]
    assert kinds == ["proposal.decided", "write.intent", "write.intent", "write.result"]
    assert gate.propose({**lead(), "idempotency_key": "k2"})[0].status == "applied"


def test_an_update_is_judged_by_values(gate, sandbox):
    """Landed: the record holds the intended values. Not landed: it holds the before-values: re-driven."""
    [made] = gate.propose(lead())
    upd = {"object": "Lead", "op": "update", "record_id": made.record_id, "actor": "ai:lead-intake-1"}
    _crash(gate, sandbox, {**upd, "fields": {"Rating": "Hot"}}, method="update_many", after_write=True)
    [v] = gate.reconcile().items
    assert (v.verdict, v.reason) == ("applied", "the record holds the intended values")
    _crash(gate, sandbox, {**upd, "fields": {"Rating": "Cold"}}, method="update_many", after_write=False)
    [v] = gate.reconcile().items
    assert (v.verdict, v.status) == ("redriven", "applied")
    assert sandbox.get_many("Lead", [made.record_id])[made.record_id].fields["Rating"] == "Cold"


def test_a_record_edited_since_stays_unknown_and_is_listed(gate, sandbox):
    """Neither the intended nor the before-values: nobody can tell; listed with why, recorded once."""
    [made] = gate.propose(lead())
    upd = {"object": "Lead", "op": "update", "record_id": made.record_id, "actor": "ai:lead-intake-1",
           "fields": {"Rating": "Hot"}}
    _crash(gate, sandbox, upd, method="update_many", after_write=False)
    sandbox.edit("Lead", made.record_id, {"Rating": "Warm"})
    report = gate.reconcile()
    [v] = report.items
    assert v.verdict == "unknown" and "edited since" in v.reason and report.unresolved == [v]
    assert gate.reconcile().items[0].verdict == "unknown"
    kinds = [e.kind for e in gate.store.entries_for(change_id=v.change_id)]
    assert kinds.count("write.reconciled") == 1


def test_an_unknown_write_that_landed_can_be_rolled_back_after_reconcile(gate, sandbox):
    """A 503 after apply is unknown; reconcile makes it applied, and rollback then undoes it."""
    sandbox.inject_fault("create_many", code="SERVER_UNAVAILABLE", status=503, whole_call=True, after_write=True)
    [out] = gate.propose(lead())
    assert out.status == "unknown"
    [v] = gate.reconcile().items
    assert v.status == "applied"
    report = gate.rollback(out.change_id)
    assert report.status == "reverted" and _leads(sandbox) == 0


def test_older_than_leaves_young_intents_alone(gate, sandbox, clock):
    """An intent younger than --older-than may still be running: it is not touched."""
    _crash(gate, sandbox, lead(), after_write=False)
    assert gate.reconcile(older_than=60).items == ()
    clock.advance(61)
    assert gate.reconcile(older_than=60).items[0].verdict == "redriven"


def test_a_change_claimed_by_another_worker_is_skipped(gate, sandbox, clock):
    """Two workers on one store: the one holding the claim judges the change, the other skips it."""
    _crash(gate, sandbox, lead(), after_write=False)
    with gate.store.engine.connect() as conn:
        [row] = inflight.pending(conn)
    assert inflight.claim(gate.store.engine, row.change_id, "other-worker", clock(), timedelta(minutes=5))
    [v] = gate.reconcile().items
    assert v.verdict == "claimed" and _leads(sandbox) == 0
    clock.advance(301)  # the other worker died holding the claim: its lease runs out
    assert gate.reconcile().items[0].verdict == "redriven" and _leads(sandbox) == 1


def test_dry_run_writes_nothing(gate, sandbox):
    """--dry-run: no trail entry, no CRM write, no claim."""
    _crash(gate, sandbox, lead(), after_write=False)
    head = gate.store.head()
    calls = len(sandbox.calls)
    assert gate.reconcile(dry_run=True).items[0].verdict == "planned"
    assert gate.store.head() == head and [c[0] for c in sandbox.calls[calls:]] == ["get_many"]
    with gate.store.engine.connect() as conn:
        assert conn.execute(sa.select(tables.inflight.c.claimed_by)).scalar_one() is None


def test_a_repeat_of_a_key_in_flight_is_in_progress_then_replays_after_the_grace(gate, sandbox, clock):
    """While the first attempt may still run: in_progress, never failed. Once it is older than the
    grace period (its writer died), the repeat reconciles it first and replays the real outcome."""
    _crash(gate, sandbox, {**lead(), "idempotency_key": "k-crash"}, after_write=True)
    first = gate.propose({**lead(), "idempotency_key": "k-crash"})[0]
    assert first.status == "in_progress" and first.replayed and "SAME key" in first.error["message"]
    clock.advance(gate.recovery_grace + 1)
    again = gate.propose({**lead(), "idempotency_key": "k-crash"})[0]
    assert again.status == "applied" and again.replayed and _leads(sandbox) == 1


def test_cli_reconcile(run, tmp_path):
    """crmgate reconcile prints the report as JSON; --dry-run and --older-than are accepted."""
    import json

    out = json.loads(run("reconcile", "--dry-run", "--older-than", "30").output)
    assert out["dry_run"] is True and out["summary"]["examined"] == 0
    assert json.loads(run("reconcile").output)["unresolved"] == []
    run("reconcile", "--older-than", "-1", code=2)


def test_bulk_rollback_lists_what_it_could_not_judge(gate, sandbox):
    """rollback --actor over an unknown write: not a clean run; the change is listed with a count and
    a warning. --reconcile-first settles it, and the rollback then undoes it too."""
    [done] = gate.propose(lead())
    sandbox.inject_fault("create_many", code="SERVER_UNAVAILABLE", status=503, whole_call=True, after_write=True)
    [unknown] = gate.propose(lead(LastName="Ode"))
    report = gate.rollback_many(actor="ai:lead-intake-1", dry_run=True)
    assert report.unjudged == (unknown.change_id,) and not report.ok
    assert report.summary["unjudged"] == 1 and "could not be judged" in report.to_dict()["warning"]
    report = gate.rollback_many(actor="ai:lead-intake-1", reconcile_first=True)
    assert report.unjudged == () and report.ok
    assert sorted(r.change_id for r in report.changes if r.status == "reverted") == sorted(
        [done.change_id, unknown.change_id])
    assert _leads(sandbox) == 0


def test_a_claim_left_by_a_dead_process_is_taken_over(gate, sandbox, clock):
    """A worker killed while reconciling leaves its claim; on the same host, a process that no
    longer exists holds nothing, so the next reconcile takes the change at once."""
    import socket
    import subprocess
    import sys

    _crash(gate, sandbox, lead(), after_write=False)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    holder = f"{socket.gethostname()[:30]}:{dead.stdout.strip()}:x"
    with gate.store.engine.connect() as conn:
        [row] = inflight.pending(conn)
    assert inflight.claim(gate.store.engine, row.change_id, holder, clock(), timedelta(minutes=5))
    assert gate.reconcile().items[0].verdict == "redriven"


def test_two_workers_reconciling_at_once_judge_each_change_once(make_gate, sandbox, store_url, clock):
    """20 orphans, two workers on one store reconciling in parallel threads: every create is driven
    again exactly once (claims), none is left, each change has one result."""
    import threading

    gate_a, gate_b = make_gate(sandbox, url=store_url), make_gate(sandbox, url=store_url)
    sandbox.inject_fault("create_many", code="process_killed", whole_call=True)
    with pytest.raises(ProcessKilled):
        gate_a.propose([lead(LastName=f"L{n}") for n in range(20)])
    reports: list = []
    threads = [threading.Thread(target=lambda g=g: reports.append(g.reconcile())) for g in (gate_a, gate_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    verdicts = [v.verdict for r in reports for v in r.items if v.verdict != "claimed"]
    assert verdicts.count("redriven") == 20 and _leads(sandbox) == 20
    results = [e for e in gate_a.store.iter_entries() if e.kind == "write.result"]
    assert len(results) == 20 and len({e.change_id for e in results}) == 20
    assert gate_a.reconcile().items == ()


@pytest.mark.parametrize("on_start", [True, False])
def test_recovery_at_start_follows_the_config(run, clock, on_start):
    """Gate.from_config reconciles orphans older than recovery.grace_s, unless on_start is false."""
    from crmgate import Gate, load_config
    from crmgate.adapters.sandbox.adapter import SandboxAdapter

    config_path = run.project / "crmgate.yaml"
    config_path.write_text(config_path.read_text()
                           + f"recovery: {{on_start: {str(on_start).lower()}, grace_s: 30}}\n")
    config = load_config(config_path)
    with Gate.from_config(config, clock=clock) as gate:
        assert isinstance(gate.adapter, SandboxAdapter)
        _crash(gate, gate.adapter, lead(LastName="Orphan"), after_write=True)
    with Gate.from_config(config, clock=clock) as gate:  # too young: left alone either way
        assert _open(gate) == 1
    clock.advance(31)
    with Gate.from_config(config, clock=clock) as gate:
        assert _open(gate) == (0 if on_start else 1)


def _open(gate) -> int:
    with gate.store.engine.connect() as conn:
        return len(inflight.pending(conn))
