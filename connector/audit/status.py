"""Where a proposal or change stands now, read from the trail.

:func:`summarize` folds one proposal's entries (decision, intents, results, approvals,
rollbacks, feedback) into its current ``status``:

``applied``, ``queued``, ``rejected`` (by the rules, or by a person: ``rejected_by`` is set),
``shadowed``, ``failed``, ``conflict``, ``approving`` (approved, the write not yet answered),
``unresolved`` (a write intent without a result: in flight, or the process died; ``crmgate reconcile``),
``unknown`` (the write was sent and its effect could not be known; ``crmgate reconcile`` finds out),
``stale`` (an approval's re-check found the record moved under the change: nothing written),
``requeued`` (a stale change decided again as a new change: ``requeued_as``),
``rolled_back`` (applied, then undone by a rollback that succeeded).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crmgate.trail import Entry, TrailStore

_OF_WRITE = {"ok": "applied", "conflict": "conflict", "failed": "failed", "unknown": "unknown"}


def summarize(entries: Sequence[Entry]) -> dict[str, Any]:
    """The current state of the proposal whose entries (in seq order) are given."""
    first = entries[0]
    out: dict[str, Any] = {"proposal_id": first.proposal_id, "change_id": None, "status": None,
                           "object": first.object, "op": first.op, "record_id": first.record_id,
                           "actor": first.actor, "use_case": first.use_case}
    pending_write = False
    for e in entries:
        data = e.data
        if e.kind == "proposal.decided":
            out.update(actor=e.actor, use_case=e.use_case, decided_at=e.ts,
                       rule=(data.get("decision") or {}).get("rule"),
                       tier=(data.get("decision") or {}).get("tier"),
                       reason=(data.get("decision") or {}).get("reason"))
            status = data.get("status")
            pending_write = status == "applying"
            out["status"] = "unresolved" if pending_write else status
            out["change_id"] = e.change_id
        elif e.kind == "write.intent":
            pending_write = True
            out["status"] = "unresolved"
        elif e.kind in ("write.result", "write.reconciled"):
            pending_write = False
            out["status"] = _OF_WRITE.get(data.get("status"), data.get("status"))
            out["record_id"] = data.get("record_id") or out["record_id"]
            out["error"] = data.get("error")
            out["written_at"] = e.ts
            if e.kind == "write.reconciled":
                out["reconciled"] = {"how": data.get("how"), "reason": data.get("reason"), "at": e.ts}
        elif e.kind == "approval.approved":
            out.update(approved_by=data.get("by"), approved_at=e.ts)
            out["status"] = "approving"
        elif e.kind == "approval.stale":
            out.update(status="stale", stale=(data.get("recheck") or {}).get("check"))
        elif e.kind == "approval.requeued":
            out.update(status="requeued", requeued_as=data.get("requeued_as"))
        elif e.kind == "approval.rejected":
            out.update(status="rejected", rejected_by=data.get("by"), rejected_at=e.ts,
                       rejection_reason=data.get("reason"))
        elif e.kind == "rollback.result" and data.get("status") == "ok":
            out.update(status="rolled_back", rolled_back_by=e.actor, rolled_back_at=e.ts,
                       rollback_change_id=e.change_id)
        elif e.kind == "feedback.recorded":
            out["feedback"] = {"correct": data.get("correct"), "by": data.get("by"), "at": e.ts}
    if pending_write:
        out["status"] = "unresolved"
    return out


def proposal_entries(store: TrailStore, proposal_id: str) -> list[Entry]:
    """Every entry of one proposal (its rollbacks included), in seq order."""
    return store.entries_for(proposal_id=proposal_id)


def change_entries(store: TrailStore, change_id: str) -> list[Entry]:
    """Every entry of the proposal that made ``change_id`` (empty when the change is unknown)."""
    own = store.entries_for(change_id=change_id)
    if not own:
        return []
    proposal_id = own[0].proposal_id
    if proposal_id is None:
        return own
    by_seq = {e.seq: e for e in [*own, *store.entries_for(proposal_id=proposal_id)]}
    return [by_seq[s] for s in sorted(by_seq)]
