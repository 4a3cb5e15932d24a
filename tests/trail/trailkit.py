"""Helpers for trail tests: sample entries, filling a store, and tampering with its database."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from crmgate.trail import NewEntry, TrailStore
from crmgate.trail.canonical import canonical_json, entry_hash


def entry(n: int, **overrides: Any) -> NewEntry:
    """A realistic entry numbered ``n``."""
    values: dict[str, Any] = dict(
        kind="write.intent", proposal_id=f"prop_{n // 3}", batch_id="batch_1", change_id=f"chg_{n}",
        actor="agent:enricher", use_case="enrich_contacts", object="Contact", record_id=f"003{n:05d}",
        op="update", data={"fields": {"Title": f"Head of Ops {n}", "City": "Zürich"}, "n": n},
    )
    values.update(overrides)
    return NewEntry(**values)


def fill(store: TrailStore, batches: int = 4, size: int = 3) -> None:
    """Append ``batches`` batches of ``size`` entries: checkpoints at size, 2*size, ..."""
    n = 0
    for _ in range(batches):
        store.append([entry(n + i) for i in range(size)])
        n += size


def sql(store: TrailStore, statement: str, **params: Any) -> None:
    """Run raw SQL in its own transaction, as an attacker with database access would."""
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


def rows(store: TrailStore) -> list[dict[str, Any]]:
    with store.scan() as scan:
        return list(scan.rows())


def recompute_chain_from(store: TrailStore, seq: int, new_data: dict[str, Any]) -> None:
    """Replace entry ``seq``'s data and recompute every later hash correctly (no private key)."""
    all_rows = rows(store)
    prev = all_rows[seq - 2]["hash"] if seq > 1 else "0" * 64
    with store.engine.begin() as conn:
        for row in all_rows[seq - 1:]:
            content = json.loads(row["body"])
            if row["seq"] == seq:
                content["data"] = new_data
            body = canonical_json(content)
            digest = entry_hash(prev, body)
            conn.execute(text("UPDATE trail_entries SET body = :b, prev_hash = :p, hash = :h WHERE seq = :s"),
                         {"b": body, "p": prev, "h": digest, "s": row["seq"]})
            prev = digest
        conn.execute(text("UPDATE trail_head SET hash = :h WHERE id = 1"), {"h": prev})
