"""Idempotency keys hold across workers, not only within one process."""
from __future__ import annotations


def test_key_used_by_another_worker_mid_flight_is_replayed(sandbox, racing_gates):
    """Worker B uses a key while worker A is between its first lookup and its trail append (A is
    waiting on its enrichment provider): A must replay B's outcome, not create a second record."""
    proposal = {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1", "idempotency_key": "k-1",
                "fields": {"LastName": "Ng", "Company": "Initech"}}
    gate_a, _, seen = racing_gates(proposal)
    a = gate_a.propose(proposal)[0]
    b = seen[0]
    assert b.status == "applied" and not b.replayed
    assert a.replayed and a.record_id == b.record_id
    assert len([c for c in sandbox.calls if c[0] == "create_many"]) == 1
