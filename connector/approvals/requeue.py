"""Requeue: a stale (or conflicted) queued change decided again on the record as it is now.

:func:`requeue` reads the record, runs the rules on the original proposal against it
(:func:`crmgate.rules.decision.decide`) and queues the result as a NEW change linked to the old one:

* one trail append holds ``approval.requeued`` on the old change (who, the new change id, the three
  values per field) and ``proposal.decided`` for the new change (status ``queued``, the new before-image,
  ``requeued_from``), with, in the same transaction, the old row moving ``stale`` -> ``requeued``
  (exactly one of several racing requeues wins) and the new ``pending`` row;
* the new change keeps the proposal's id, batch and proposing actor, so rollback and the trail read
  it like any queued change; its before-values are the record's values now.

Refusals (:class:`ApprovalError`, nothing written): ``not_stale`` (only a ``stale`` or ``conflict``
change can be requeued), separation of duties as for approving, ``invalid_change`` (the rules now
reject the change: reject it instead), ``nothing_to_requeue`` (the record already holds every
proposed value).
"""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from crmgate import tables
from crmgate.adapters.base import Adapter, Record
from crmgate.approvals.queue import QueuedChange, check_approver, get_queued
from crmgate.approvals.recheck import describe, three_values
from crmgate.clock import Clock, IdFactory, iso
from crmgate.errors import ApprovalError
from crmgate.rules.decision import Decision, decide
from crmgate.rules.proposal import Proposal
from crmgate.trail import NewEntry, TrailStore
from crmgate.writes import inflight

REQUEUABLE = ("stale", "conflict")


def requeue(q_id: str, *, by: str, note: str | None, rulebook: Any, adapter: Adapter, store: TrailStore,
            clock: Clock, ids: IdFactory, ttl: timedelta, batch_id: str | None) -> dict[str, Any]:
    """Requeue change ``q_id`` (see the module docstring); returns the new queued change as a dict
    with ``requeued_from`` and the three values per field."""
    q = get_queued(store.engine, clock, q_id)
    if q.status not in REQUEUABLE:
        raise ApprovalError(f"change {q_id} is {q.status}; only a stale or conflicted change can be "
                            "requeued", code="not_stale", details={"change_id": q_id, "status": q.status})
    check_approver(rulebook, q, by)
    proposal = Proposal.model_validate(q.proposal)
    current = _read(adapter, q)
    if q.op != "create" and current is None:
        raise ApprovalError(f"{q.object} {q.record_id} no longer exists; there is nothing to requeue",
                            code="nothing_to_requeue", details={"change_id": q_id})
    now_fields = dict(current.fields) if current is not None else None
    d = decide(proposal, now_fields, rulebook)
    if d.action == "reject" or d.would == "reject":
        raise ApprovalError(f"the rules no longer allow this change on the record as it is now: {d.reason}",
                            code="invalid_change", details={"change_id": q_id, "rule": d.rule,
                                                            "violations": [v.to_dict() for v in d.violations]})
    if not d.changes:
        raise ApprovalError(f"{q.object} {q.record_id} already holds every proposed value; nothing to requeue",
                            code="nothing_to_requeue", details={"change_id": q_id})
    new_id, at = ids("chg"), clock()
    rule, reason = _why(d, by)
    changes = [c.to_dict() for c in d.changes]
    values = three_values(q, now_fields)
    common = {"proposal_id": q.proposal_id, "batch_id": batch_id, "use_case": d.use_case or q.use_case,
              "object": q.object, "record_id": q.record_id, "op": q.op}
    entries = [
        NewEntry(kind="approval.requeued", change_id=q.change_id, actor=by, **common, data={
            "by": by, "note": note, "requeued_as": new_id, "fields": values}),
        NewEntry(kind="proposal.decided", change_id=new_id, actor=q.actor, **common, data={
            "status": "queued", "requeued_from": q.change_id, "requeued_by": by,
            "proposal": proposal.model_dump(mode="json", exclude={"object", "op", "record_id", "actor"}),
            "decision": {**d.to_dict(), "action": "queue", "rule": rule, "reason": reason},
            "rulebook_version": rulebook.version_hash,
            "before": {"version": current.version, "fields": current.fields} if current else None,
            "error": None}),
    ]
    row = {"change_id": new_id, "proposal_id": q.proposal_id, "status": "pending", "object": q.object,
           "op": q.op, "record_id": q.record_id, "actor": q.actor, "use_case": d.use_case or q.use_case,
           "tier": d.tier, "rule": rule, "reason": reason, "proposal": proposal.model_dump_json(),
           "changes": json.dumps(changes, ensure_ascii=False),
           "base_version": current.version if current else None,
           "queued_at": iso(at), "expires_at": iso(at + ttl)}

    def rows(conn: sa.Connection, _entries: list) -> None:
        t = tables.approvals
        moved = conn.execute(sa.update(t).where(t.c.change_id == q.change_id, t.c.status == q.status)
                             .values(status="requeued")).rowcount
        if moved != 1:
            raise ApprovalError(f"change {q.change_id} was requeued or decided by someone else",
                                code="not_stale", details={"change_id": q.change_id})
        conn.execute(t.insert().values(**row))
        _index(conn, q, new_id)

    store.append(entries, also=rows)
    moved = [f"{v['field']}: {describe(v['queued'])} at queueing, {describe(v['now'])} now, "
             f"{describe(v['proposed'])} proposed" for v in values]
    return {**get_queued(store.engine, clock, new_id).to_dict(), "requeued_from": q.change_id,
            "requeued_by": by, "fields": values,
            "message": f"requeued as {new_id}, decided on the record as it is now"
                       + (f" ({'; '.join(moved)})" if moved else "")}


def _why(d: Decision, by: str) -> tuple[str, str]:
    """The new change's rule and reason: the rules' own when they queue it; a person's request
    when the rules alone would have applied it (a requeued change is always reviewed)."""
    if d.action == "queue":
        return d.rule, d.reason
    return "approvals.requeue", f"requeued by {by} for review ({d.rule}: {d.reason})"


def _read(adapter: Adapter, q: QueuedChange) -> Record | None:
    if q.op == "create" or not q.record_id:
        return None
    return adapter.get_many(q.object, [q.record_id]).get(q.record_id)


def _index(conn: sa.Connection, q: QueuedChange, new_id: str) -> None:
    """A replayed idempotency key now answers with the new queued change."""
    inflight.restate(conn, q.proposal.get("idempotency_key"), status="queued", change_id=new_id, error=None,
                     reason=f"requeued as {new_id} after {q.change_id} went stale")
