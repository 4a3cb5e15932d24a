"""One signature a round: an unpipelined round's intents are signed by its results' checkpoint.

Runs where the trail store offers ``append(..., seal=...)``; the write path passes it only then.
"""
from __future__ import annotations

import inspect

import pytest
import sqlalchemy as sa

from crmgate.trail import TrailStore, verify_store

pytestmark = pytest.mark.skipif("seal" not in inspect.signature(TrailStore.append).parameters,
                                reason="this trail store signs every append")


def _checkpoints(gate) -> list[int]:
    with gate.store.engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT seq FROM trail_checkpoints ORDER BY seq")).scalars())


def _lead(name: str) -> dict:
    return {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
            "fields": {"LastName": name, "Company": "Initech", "Email": f"{name.lower()}@initech.example"}}


def test_a_written_proposal_is_signed_once_at_its_result(gate, keypair):
    """Decision and intent go unsigned (committed, on disk), the result's checkpoint covers them."""
    before = _checkpoints(gate)
    outcome = gate.propose(_lead("Ng"))[0]
    assert outcome.status == "applied"
    entries = gate.store.entries_for(change_id=outcome.change_id)
    assert [e.kind for e in entries] == ["proposal.decided", "write.intent", "write.result"]
    assert _checkpoints(gate) == [*before, entries[-1].seq]
    assert not gate.store.unsealed
    assert verify_store(gate.store, keypair[1]).ok


def test_a_proposal_that_writes_nothing_is_signed_by_its_own_append(gate, keypair):
    """No result append follows a rejection: its decision's append carries the checkpoint."""
    before = _checkpoints(gate)
    bad = {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1", "fields": {"LastName": "Ng"}}
    outcome = gate.propose(bad)[0]
    assert outcome.status in ("rejected", "queued")
    entries = gate.store.entries_for(proposal_id=outcome.proposal_id)
    assert [e.kind for e in entries] == ["proposal.decided"]
    assert _checkpoints(gate) == [*before, entries[-1].seq]
    assert not gate.store.unsealed
    assert verify_store(gate.store, keypair[1]).ok
