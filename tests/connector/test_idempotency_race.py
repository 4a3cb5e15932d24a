"""Idempotency keys hold across workers, not only within one process."""
from __future__ import annotations

from crmgate.gate import Gate
from crmgate.rules.loader import parse_rulebook
from crmgate.trail import TrailStore
from tests.routing.conftest import routing_text


def test_key_used_by_another_worker_mid_flight_is_replayed(sandbox, keypair, trail_url, clock):
    """Worker B uses a key while worker A is between its first lookup and its trail append (A is
    waiting on its enrichment provider): A must replay B's outcome, not create a second record."""
    rb = parse_rulebook(routing_text())
    proposal = {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1", "idempotency_key": "k-1",
                "fields": {"LastName": "Ng", "Company": "Initech"}}
    gate_b = Gate(rulebook=rb, adapter=sandbox, store=TrailStore(trail_url, signer=keypair[0], clock=clock),
                  clock=clock)
    gate_b.providers.register("firmographics", lambda obj, rec: {"Country": "US"})
    seen: list = []

    def provider_of_a(obj, rec):
        if not seen:
            seen.append(gate_b.propose(proposal)[0])
        return {"Country": "US"}

    gate_a = Gate(rulebook=rb, adapter=sandbox, store=TrailStore(trail_url, signer=keypair[0], clock=clock),
                  clock=clock)
    gate_a.providers.register("firmographics", provider_of_a)
    a = gate_a.propose(proposal)[0]
    b = seen[0]
    assert b.status == "applied" and not b.replayed
    assert a.replayed and a.record_id == b.record_id
    assert len([c for c in sandbox.calls if c[0] == "create_many"]) == 1
    gate_a.store.close()
    gate_b.store.close()
