"""``unknown``: a write whose effect nobody can know is never recorded as ``failed``."""
from __future__ import annotations

import sqlalchemy as sa

from crmgate import tables
from crmgate.audit.status import summarize
from tests.connector.conftest import lead


def _inflight(gate) -> list:
    with gate.store.engine.connect() as conn:
        return list(conn.execute(sa.select(tables.inflight)))


def test_a_reply_lost_after_the_write_is_unknown_not_failed(gate, sandbox):
    """The sandbox applies the create, then the call fails: outcome, trail and status say unknown."""
    sandbox.inject_fault("create_many", code="connection_error", whole_call=True, after_write=True)
    [out] = gate.propose(lead())
    assert out.status == "unknown" and out.error["ambiguous"] is True
    assert "never retry under a new key" in out.reason
    entries = gate.store.entries_for(proposal_id=out.proposal_id)
    result = next(e for e in entries if e.kind == "write.result")
    assert result.data["status"] == "unknown"
    assert summarize(entries)["status"] == "unknown"
    [row] = _inflight(gate)
    assert (row.change_id, row.state) == (out.change_id, "unknown")
    assert sandbox.calls[-1][0] == "create_many"  # it did reach the CRM (and landed there)


def test_a_refusal_before_the_write_is_failed(gate, sandbox):
    """A fault the sandbox raises before writing is certain: ``failed``, and nothing stays in flight."""
    sandbox.inject_fault("create_many", code="connection_error", whole_call=True)
    [out] = gate.propose(lead())
    assert out.status == "failed" and "ambiguous" not in out.error
    assert _inflight(gate) == []


def test_a_5xx_after_an_update_is_unknown(gate, sandbox):
    """Updates too: a 503 after the sandbox applied an update is unknown."""
    [made] = gate.propose(lead())
    sandbox.inject_fault("update_many", code="SERVER_UNAVAILABLE", status=503, whole_call=True, after_write=True)
    [out] = gate.propose({"object": "Lead", "op": "update", "record_id": made.record_id,
                          "actor": "ai:lead-intake-1", "fields": {"Rating": "Hot"}})
    assert out.status == "unknown"
    assert sandbox.get_many("Lead", [made.record_id])[made.record_id].fields["Rating"] == "Hot"


def test_a_repeat_of_an_unknown_key_reconciles_it_and_replays_the_truth(gate, sandbox):
    """The repeat of an unknown key is never told failed: the write is reconciled first (it landed),
    and the repeat replays applied, with the record it made; no second record."""
    sandbox.inject_fault("create_many", code="timeout", whole_call=True, after_write=True)
    first = gate.propose({**lead(), "idempotency_key": "k-unknown"})[0]
    again = gate.propose({**lead(), "idempotency_key": "k-unknown"})[0]
    assert first.status == "unknown" and again.status == "applied" and again.replayed
    assert again.record_id and again.change_id == first.change_id
    assert [c[0] for c in sandbox.calls].count("create_many") == 1
