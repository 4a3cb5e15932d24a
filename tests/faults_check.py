"""Shared by the fault tests: compare the trail's final word on each keyed proposal with the CRM."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from crmgate.audit.status import summarize


def final_statuses(gate: Any) -> dict[str, dict[str, Any]]:
    """Idempotency key -> the proposal's current status view, from the trail."""
    by_proposal: dict[str, list] = {}
    for e in gate.store.iter_entries():
        if e.proposal_id:
            by_proposal.setdefault(e.proposal_id, []).append(e)
    out = {}
    for entries in by_proposal.values():
        decided = next((e for e in entries if e.kind == "proposal.decided"), None)
        key = ((decided.data.get("proposal") or {}).get("idempotency_key")) if decided else None
        if key:
            out[key] = summarize(entries)
    return out


def reconcile_until_settled(gate: Any, runs: int = 5) -> int:
    """Reconcile (faults may still strike it) until nothing is left open; the runs it took."""
    for n in range(1, runs + 1):
        if not gate.reconcile().unresolved:
            return n
    return runs + 1


def mismatches(views: Mapping[str, Mapping[str, Any]], landed: Callable[[str], bool]) -> dict[str, Any]:
    """``landed(key)``: whether the CRM holds that proposal's values. A mismatch is an applied change
    the CRM does not hold, or a failed/conflict one it does hold."""
    statuses = Counter(v["status"] for v in views.values())
    bad = [k for k, v in views.items()
           if (v["status"] == "applied") != landed(k) and v["status"] in ("applied", "failed", "conflict")]
    return {"statuses": dict(statuses), "mismatches": bad,
            "open": [k for k, v in views.items() if v["status"] in ("unknown", "unresolved")]}
