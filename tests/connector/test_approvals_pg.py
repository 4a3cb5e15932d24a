"""Several admins approving one change at once never write it twice (SQLite and PostgreSQL)."""
from __future__ import annotations

import threading

import pytest

from crmgate.clock import new_id
from crmgate.errors import ApprovalError
from crmgate.gate import Gate
from crmgate.trail import TrailStore, verify_store
from tests.connector.conftest import hygiene, opp

N = 6


def race(gates, change_id, decide):
    """Run ``decide(gate, i)`` on every gate at the same moment; return results and errors."""
    barrier = threading.Barrier(len(gates))
    results, errors = [], []

    def worker(i, gate):
        barrier.wait()
        try:
            results.append((i, decide(gate, i)))
        except ApprovalError as exc:
            errors.append(exc.code)

    threads = [threading.Thread(target=worker, args=(i, g)) for i, g in enumerate(gates)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, errors


@pytest.fixture
def gates(store_url, rulebook, keypair, clock, sandbox):
    """N gates, each with its own store connection pool, on one trail store and one CRM."""
    made = [Gate(rulebook=rulebook, adapter=sandbox, store=TrailStore(store_url, signer=keypair[0], clock=clock),
                 clock=clock, ids=new_id) for _ in range(N)]
    yield made
    for g in made:
        g.store.close()


def test_concurrent_approvals_write_once(gates, sandbox, keypair):
    """N admins approve the same change at once: one wins and writes; the others are refused with
    not_pending; the CRM saw one update and the trail holds one approval, one intent, one result."""
    rid = gates[0].propose(opp())[0].record_id
    q = gates[0].propose(hygiene(rid, ForecastCategoryName="Commit"))[0]
    sandbox.calls.clear()
    results, errors = race(gates, q.change_id, lambda g, i: g.approve(q.change_id, by=f"admin:{i}"))
    assert [r.status for _, r in results] == ["applied"] and errors == ["not_pending"] * (N - 1)
    assert [c for c in sandbox.calls if c[0] == "update_many"] == [("update_many", "Opportunity", 1)]
    kinds = [e.kind for e in gates[0].store.entries_for(change_id=q.change_id)]
    assert kinds == ["proposal.decided", "approval.approved", "write.intent", "write.result"]
    [row] = gates[0].approvals()
    assert row.status == "approved" and row.decided_by == f"admin:{results[0][0]}"
    assert verify_store(gates[0].store, keypair[1]).ok


def test_concurrent_approve_and_reject_decide_once(gates, sandbox):
    """Approvers and rejecters racing: exactly one decision is recorded, and the CRM is written
    only if that decision was an approval."""
    rid = gates[0].propose(opp())[0].record_id
    q = gates[0].propose(hygiene(rid, ForecastCategoryName="Commit"))[0]
    sandbox.calls.clear()

    def decide(g, i):
        if i % 2:
            return g.reject(q.change_id, by=f"admin:{i}", reason="no")
        return g.approve(q.change_id, by=f"admin:{i}")

    results, errors = race(gates, q.change_id, decide)
    assert len(results) == 1 and errors == ["not_pending"] * (N - 1)
    [(_, winner)] = results
    updates = [c for c in sandbox.calls if c[0] == "update_many"]
    assert len(updates) == (1 if winner.status == "applied" else 0)
    decisions = [e for e in gates[0].store.entries_for(change_id=q.change_id)
                 if e.kind in ("approval.approved", "approval.rejected")]
    assert len(decisions) == 1


class ReadThenInterleave:
    """The CRM as the approving gate sees it: the first ``get_many`` (the approval's re-read of the
    record) first lets ``between`` run (another admin deciding), then answers as the CRM would."""

    def __init__(self, crm, between) -> None:
        self._crm, self._between = crm, between

    def get_many(self, *args, **kwargs):
        between, self._between = self._between, None
        if between is not None:
            between()
        return self._crm.get_many(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._crm, name)


def test_claim_is_atomic_after_the_check(gates, sandbox, store_url, rulebook, keypair, clock):
    """An approval that passed its checks but lost the claim to another admin (who decided in
    between) is refused at the claim: its trail entries roll back and the CRM is not written.
    The other admin decides at the CRM boundary, while ana's gate re-reads the record."""
    rid = gates[0].propose(opp())[0].record_id
    q = gates[0].propose(hygiene(rid, ForecastCategoryName="Commit"))[0]
    crm = ReadThenInterleave(sandbox, lambda: gates[1].reject(q.change_id, by="admin:other", reason="first"))
    ana = Gate(rulebook=rulebook, adapter=crm, store=TrailStore(store_url, signer=keypair[0], clock=clock),
               clock=clock, ids=new_id)
    sandbox.calls.clear()
    head = gates[0].store.head()
    try:
        with pytest.raises(ApprovalError) as exc:
            ana.approve(q.change_id, by="admin:ana")
    finally:
        ana.store.close()
    assert exc.value.code == "not_pending"
    assert crm._between is None  # the other admin did decide in between
    assert gates[0].store.head()[0] == head[0] + 1  # only the rejection was appended
    assert not [c for c in sandbox.calls if c[0] == "update_many"]
    assert gates[0].approvals()[0].status == "rejected"
