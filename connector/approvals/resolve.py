"""Deciding a queued change: approve (re-checked, optionally edited, written) or reject.

Approve, in order (:meth:`Approver.approve`):

1. The change must be pending and unexpired, and the approver must pass separation of duties
   (:func:`crmgate.approvals.queue.check_approver`). Refusals are :class:`ApprovalError`; nothing is written.
2. Re-check (:mod:`crmgate.approvals.recheck`): the record is read again. The change is ``stale``
   when the record is gone, when a field it writes changed since queueing, or when the rules run
   on the record now reject it; other fields may have moved. A stale approval appends one
   ``approval.stale`` entry (the check that decided, and per field the value at queueing, now and
   proposed) and the row becomes ``stale``; nothing is written, and ``requeue``
   (:mod:`crmgate.approvals.requeue`) re-decides it against the record now as a new queued change.
3. ``edits`` (``--set``) replace proposed values; the edited proposal is validated again with
   ``rules.validate`` against the current record. Violations refuse the approval (nothing written).
4. One trail append holds ``approval.approved`` and the ``write.intent`` and, in the same
   transaction, claims the queue row (``pending`` -> ``approving``): of several approvers racing,
   exactly one commits; the others get ``not_pending``.
5. A conditional write with the version just read (not the queued one) (a record edited in between is a ``conflict``),
   then one append with the ``write.result``; the row becomes ``approved``, ``conflict`` or ``failed``.

Approval entries share the queued change's ``change_id``, ``proposal_id`` and proposal batch, so
``crmgate rollback --change`` and ``--batch`` treat approved changes like auto-applied ones. The
write entries keep the proposing actor (the change is still the workflow's); the approver is the
``actor`` of ``approval.approved`` and ``approved_by`` in the intent.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from crmgate.adapters.base import (
    Adapter,
    CreateRequest,
    DeleteRequest,
    Record,
    UpdateRequest,
    WriteResult,
)
from crmgate.adapters.errors import CRMError, RecordError
from crmgate.approvals.queue import (
    QueuedChange,
    check_approver,
    check_open,
    claim,
    get_queued,
    settle,
)
from crmgate.approvals.recheck import Recheck, recheck
from crmgate.approvals.requeue import requeue
from crmgate.clock import Clock, IdFactory, iso
from crmgate.errors import ApprovalError
from crmgate.rules.conditions import values_equal
from crmgate.rules.decision import FieldChange, compute_changes
from crmgate.rules.proposal import Op, Proposal
from crmgate.rules.validation import validate
from crmgate.trail import Entry, NewEntry, TrailStore
from crmgate.writes import inflight


@dataclass(frozen=True, slots=True)
class ApprovalResult:
    """What a decision did. ``status``: applied | stale | conflict | failed | unknown (approve), rejected, or
    queued (requeue: ``change_id`` is the new change, ``requeued_from`` the stale one).
    ``recheck``: the approval's re-check (:class:`crmgate.approvals.recheck.Recheck`)."""

    approval_id: str
    change_id: str
    proposal_id: str
    status: str
    object: str
    op: str
    record_id: str | None
    by: str
    note: str | None = None
    edits: dict[str, dict[str, Any]] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    message: str = ""
    recheck: dict[str, Any] | None = None
    requeued_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


class Approver:
    """Approves and rejects queued changes against one rulebook, adapter and trail store."""

    def __init__(self, *, rulebook: Any, adapter: Adapter, store: TrailStore, clock: Clock,
                 ids: IdFactory, approval_ttl: timedelta = timedelta(hours=72)) -> None:
        self.rulebook, self.adapter, self.store, self.clock, self.ids = rulebook, adapter, store, clock, ids
        self.approval_ttl = approval_ttl
        self._batches: dict[str, str | None] = {}

    def show(self, change_id: str) -> dict[str, Any]:
        """The queued change and every trail entry of it (decision, approval, write), in order."""
        q = get_queued(self.store.engine, self.clock, change_id)
        history = self.store.entries_for(change_id=change_id)
        out = {**q.to_dict(), "history": [_brief(e) for e in history]}
        for e in history:  # the links a requeue made, and the last stale verdict with its three values
            if e.kind == "approval.requeued":
                out["requeued_as"] = e.data.get("requeued_as")
            elif e.kind == "proposal.decided" and e.data.get("requeued_from"):
                out["requeued_from"] = e.data["requeued_from"]
            elif e.kind == "approval.stale":
                out["stale"] = e.data.get("recheck")
        return out

    def requeue(self, change_id: str, *, by: str, note: str | None = None) -> dict[str, Any]:
        """Decide a stale change again on the record now, as a new queued change (see
        :mod:`crmgate.approvals.requeue`)."""
        q = get_queued(self.store.engine, self.clock, change_id)
        return requeue(change_id, by=by, note=note, rulebook=self.rulebook, adapter=self.adapter,
                       store=self.store, clock=self.clock, ids=self.ids, ttl=self.approval_ttl,
                       batch_id=self._batch_of(q))

    def reject(self, change_id: str, *, by: str, reason: str) -> ApprovalResult:
        """Reject a pending (or expired) change; ``approval.rejected`` records who and why."""
        q = get_queued(self.store.engine, self.clock, change_id)
        check_open(q, allow_expired=True)
        check_approver(self.rulebook, q, by)
        if not (reason or "").strip():
            raise ApprovalError("a rejection needs a reason (--reason TEXT)", code="reason_missing")
        approval_id, now = self.ids("apr"), iso(self.clock())
        entry = self._entry(q, "approval.rejected", by, {"approval_id": approval_id, "by": by,
                                                          "reason": reason})
        self.store.append([entry], also=lambda conn, _e: claim(
            conn, change_id, to="rejected", by=by, at=now, note=reason, unexpired_at=None))
        return ApprovalResult(approval_id, change_id, q.proposal_id, "rejected", q.object, q.op,
                              q.record_id, by, note=reason, message="rejected; nothing written")

    def approve(self, change_id: str, *, by: str, note: str | None = None,
                edits: dict[str, Any] | None = None) -> ApprovalResult:
        """Approve and write a queued change (see the module docstring for every step)."""
        q = get_queued(self.store.engine, self.clock, change_id)
        check_open(q)
        check_approver(self.rulebook, q, by)
        proposal = Proposal.model_validate(q.proposal)
        edited, edit_log = _apply_edits(proposal, edits or {})
        current = self._read(q)
        approval_id, now = self.ids("apr"), iso(self.clock())
        base = {"approval_id": approval_id, "change_id": change_id, "proposal_id": q.proposal_id,
                "object": q.object, "op": q.op, "by": by, "note": note, "edits": edit_log}
        approved = {"approval_id": approval_id, "by": by, "note": note, "edits": edit_log}
        check = recheck(q, proposal, current, self.rulebook)
        if check.stale:
            return self._stale(q, by, now, approved, check, base)
        approved["recheck"] = check.to_dict()
        before = dict(current.fields) if current is not None else None
        violations = validate(edited, before, self.rulebook, q.use_case)
        if violations:
            raise ApprovalError(
                f"the {'edited ' if edit_log else ''}change breaks the rules: {violations[0].message}",
                code="invalid_change", details={"change_id": change_id,
                                                "violations": [v.to_dict() for v in violations]})
        changes = [c.to_dict() for c in compute_changes(edited, before)]
        fields = _write_fields(edited, changes)
        expected = current.version if current is not None else None
        entries = [self._entry(q, "approval.approved", by, {**approved, "changes": changes})]
        if not changes:  # the values already hold: approved, nothing to send
            self.store.append(entries, also=lambda conn, _e: (
                claim(conn, change_id, to="approved", by=by, at=now, note=note, unexpired_at=now),
                self._index(conn, q, "applied", changes, None)))
            return ApprovalResult(**base, status="applied", record_id=q.record_id, changes=changes,
                                  recheck=check.to_dict(),
                                  message="approved; the values already hold, nothing written")
        entries.append(self._entry(q, "write.intent", q.actor, {
            "changes": changes, "fields": fields, "expected_version": expected,
            "idempotency_key": change_id, "approval_id": approval_id, "approved_by": by}))
        # on reconcile's work list from the intent on: a crash before the result leaves it to be judged
        started = inflight.Started(change_id, q.proposal_id, None, q.object, q.op)
        self.store.append(entries, also=lambda conn, _e: (
            claim(conn, change_id, to="approving", by=by, at=now, note=note, unexpired_at=now),
            inflight.started(conn, [started], self.clock())))
        res, unexpected = self._write(q, fields, expected)
        if res.status == "failed" and res.error is not None and res.error.ambiguous:
            res = replace(res, status="unknown")  # type: ignore[arg-type]  # failed means certainly not applied
        status = {"ok": "applied", "conflict": "conflict", "failed": "failed", "unknown": "unknown"}[res.status]
        record_id = res.id or q.record_id
        error = res.error.to_dict() if res.error else None
        after = ({c["field"]: res.record.fields.get(c["field"]) for c in changes}
                 if res.record is not None and q.op != "delete" else None)
        result = self._entry(q, "write.result", q.actor, {
            "status": res.status, "record_id": record_id, "approval_id": approval_id,
            "version": res.record.version if res.record else None, "after": after, "error": error,
            "info": res.info or None}, record_id=record_id)
        final = {"applied": "approved"}.get(status, status)
        self.store.append([result], also=lambda conn, _e: (
            settle(conn, change_id, final), self._index(conn, q, status, changes, error, record_id),
            inflight.finished(conn, {change_id: status})))
        if unexpected is not None:
            raise unexpected
        message = {"applied": "approved and written",
                   "conflict": "approved, but the record changed during the write: nothing written",
                   "failed": f"approved, but the CRM refused the write: {error and error.get('message')}",
                   "unknown": "approved, but the write's outcome is unknown (the CRM did not answer after it was "
                              "sent): run `crmgate reconcile` to find out; do not approve it again"}
        return ApprovalResult(**base, status=status, record_id=record_id, changes=changes, error=error,
                              recheck=check.to_dict(), message=message[status])

    # -- steps ----------------------------------------------------------------------------------
    def _read(self, q: QueuedChange) -> Record | None:
        if q.op == "create" or not q.record_id:
            return None
        return self.adapter.get_many(q.object, [q.record_id]).get(q.record_id)

    def _stale(self, q: QueuedChange, by: str, now: str, approved: dict[str, Any], check: Recheck,
               base: dict[str, Any]) -> ApprovalResult:
        """Record the stale verdict (which check decided, the three values per field); write nothing."""
        verdict = check.to_dict()
        error = {"code": "stale", "message": check.reason, "check": check.check}
        entry = self._entry(q, "approval.stale", by, {**approved, "recheck": verdict})
        self.store.append([entry], also=lambda conn, _e: claim(
            conn, q.change_id, to="stale", by=by, at=now, note=base["note"], unexpired_at=now))
        return ApprovalResult(**base, status="stale", record_id=q.record_id, changes=q.changes,
                              error=error, recheck=verdict,
                              message=f"stale: {check.reason}; nothing written (requeue it to decide it "
                                      "again on the record as it is now)")

    def _write(self, q: QueuedChange, fields: dict[str, Any], expected: str | None
               ) -> tuple[WriteResult, BaseException | None]:
        try:
            if q.op == "update":
                got = self.adapter.update_many(q.object, [UpdateRequest(q.record_id, fields, expected)])  # type: ignore[arg-type]
            elif q.op == "delete":
                got = self.adapter.delete_many(q.object, [DeleteRequest(q.record_id, expected)])  # type: ignore[arg-type]
            else:
                got = self.adapter.create_many(q.object, [CreateRequest(fields, idempotency_key=q.change_id)])
            if len(got) != 1:
                raise CRMError(f"adapter returned {len(got)} results for 1 request", code="malformed_response")
            return got[0], None
        except CRMError as exc:
            return WriteResult(status="failed", error=exc.to_record_error()), None
        except Exception as exc:  # noqa: BLE001 - a bug in an adapter: record the unknown outcome, then surface it
            err = RecordError(code="unknown_outcome", ambiguous=True, message=(
                f"the adapter raised {type(exc).__name__}; the write may or may not have happened"))
            return WriteResult(status="failed", error=err), exc

    def _entry(self, q: QueuedChange, kind: str, actor: str, data: dict[str, Any],
               record_id: str | None = None) -> NewEntry:
        return NewEntry(kind=kind, proposal_id=q.proposal_id, batch_id=self._batch_of(q),
                        change_id=q.change_id, actor=actor, use_case=q.use_case, object=q.object,
                        record_id=record_id or q.record_id, op=q.op, data=data)

    def _batch_of(self, q: QueuedChange) -> str | None:
        """The batch the proposal arrived in, so ``rollback --batch`` covers its approved changes."""
        if q.change_id not in self._batches:
            first = self.store.entries_for(proposal_id=q.proposal_id)
            self._batches[q.change_id] = first[0].batch_id if first else None
        return self._batches[q.change_id]

    def _index(self, conn: sa.Connection, q: QueuedChange, status: str, changes: list[dict[str, Any]],
               error: dict[str, Any] | None, record_id: str | None = None) -> None:
        """Keep the idempotency index truthful: a replayed key now returns the approved outcome."""
        inflight.restate(conn, q.proposal.get("idempotency_key"), status=status, error=error,
                         changes=tuple(FieldChange(**c) for c in changes),
                         reason=f"approved by a person: {status}",
                         **({"record_id": record_id} if record_id else {}))


def _apply_edits(p: Proposal, edits: dict[str, Any]) -> tuple[Proposal, dict[str, dict[str, Any]]]:
    """The proposal with the approver's values, and ``{field: {proposed, approved}}`` for each
    value that differs from what the AI proposed (a ``--set`` equal to the proposal is no edit)."""
    if not edits:
        return p, {}
    if p.op is Op.DELETE:
        raise ApprovalError("a delete has no values to edit; approve or reject it as proposed",
                            code="edits_not_allowed")
    extra = sorted(set(edits) - set(p.fields))
    if extra:  # an approval reviews the AI's change; a new field is a new change, with its own risk
        raise ApprovalError(f"{', '.join(extra)} {'is' if len(extra) == 1 else 'are'} not part of the proposed "
                            f"change (fields: {', '.join(sorted(p.fields))}); --set may only change proposed "
                            "values; propose a new change for other fields", code="edits_not_allowed")
    log = {f: {"proposed": p.fields.get(f), "approved": v} for f, v in sorted(edits.items())
           if not (f in p.fields and values_equal(p.fields[f], v))}
    data = p.model_dump(mode="json")
    data["fields"] = {**p.fields, **edits}
    try:
        return Proposal.model_validate(data), log
    except ValidationError as exc:  # a NaN, an unencodable string...: bad input, not a crash
        problems = [{"path": ".".join(str(x) for x in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        raise ApprovalError(f"the edited values are not valid: {problems[0]['message']}", code="invalid_change",
                            details={"problems": problems}) from None


def _write_fields(p: Proposal, changes: list[dict[str, Any]]) -> dict[str, Any]:
    if p.op is Op.CREATE:
        return dict(p.fields)
    if p.op is Op.UPDATE:
        return {c["field"]: c["after"] for c in changes}
    return {}


def _brief(e: Entry) -> dict[str, Any]:
    return {"seq": e.seq, "ts": e.ts, "kind": e.kind, "actor": e.actor, "data": dict(e.data)}
