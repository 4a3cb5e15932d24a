"""One worker process for the multi-process PostgreSQL test (run by tests/connector/test_workers_pg.py).

    python -m tests.connector.pg_worker STORE_URL CRM_PATH KEY_PATH WORKER SHARED

Proposes its batches after reading a line on stdin (so every worker starts together) and prints
its outcomes as one JSON line.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from crmgate.adapters.sandbox.adapter import SandboxAdapter
from crmgate.gate import Gate
from crmgate.rules.loader import parse_rulebook
from crmgate.trail import TrailStore, load_signer
from tests.routing.conftest import routing_text


def rulebook_text() -> str:
    """The routing example with uncapped pools: every slot of a pool's sequence is a slot."""
    return routing_text(enrichment=False).replace(
        '{id: "005EE1", capacity: 2}, {id: "005EE2", capacity: 2}', '{id: "005EE1"}, {id: "005EE2"}')


def shared(j: int) -> dict:
    """Every worker proposes these, with the same key: one may execute it, the rest replay."""
    return {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1", "idempotency_key": f"shared-{j}",
            "fields": {"LastName": f"Shared {j}", "Company": "Initech", "Country": "DE", "NumberOfEmployees": 5000}}


def own(w: int, b: int) -> dict:
    """A worker's own proposal, drawing from the other pool."""
    return {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
            "fields": {"LastName": f"Own {w}-{b}", "Company": "Initech", "Country": "US", "NumberOfEmployees": 50}}


def batches(w: int, n_shared: int) -> list[list[dict]]:
    order = list(range(n_shared))
    if w % 2:
        order.reverse()  # opposite order in a batch: the key claims must not deadlock
    return [[shared(order[i]), shared(order[i + 1]), own(w, i)] for i in range(0, n_shared - 1, 2)]


def main() -> None:
    url, crm, key, w, n_shared = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    store = TrailStore(url, signer=load_signer(key, env={}))
    gate = Gate(rulebook=parse_rulebook(rulebook_text()), adapter=SandboxAdapter(crm, timeout=60), store=store)
    print("ready", flush=True)
    sys.stdin.readline()
    out = []
    for batch in batches(w, n_shared):
        for p, o in zip(batch, gate.propose(batch)):
            out.append({"key": p.get("idempotency_key"), "status": o.status, "record_id": o.record_id,
                        "replayed": o.replayed})
    gate.close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
