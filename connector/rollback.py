"""Conflict-aware rollback of one change.

A field is written back to its before-value only where the record still holds the value crmgate
wrote. A field that has moved since (a person edited it) is a conflict and is left alone unless
``force``. A field that already holds its before-value is skipped, so a repeated rollback changes
nothing. Rolling back a create deletes the record (only if none of its written fields moved);
rolling back a delete re-creates the record from its before-image (a new id, as the CRMs have no
undelete). The rollback is a change of its own: ``rollback.intent`` before the CRM call and
``rollback.result`` after, linked by ``reverts`` to the change it undoes and sharing its proposal id.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from adapters.base import Adapter, CreateRequest, DeleteRequest, UpdateRequest, WriteResult
from adapters.errors import CRMError
from connector.clock import IdFactory
from connector.errors import RollbackError
from connector.trail import Entry, NewEntry, TrailStore

FieldAction = Literal["revert", "force", "conflict", "skip"]
INTENT_KINDS = ("write.intent", "rollback.intent")
RESULT_KINDS = ("write.result", "rollback.result")


@dataclass(frozen=True, slots=True)
class FieldPlan:
    field: str
    action: FieldAction
    before: Any  # the value before the change being reverted: the rollback's target
    written: Any  # what that change wrote
    current: Any  # what the record holds now
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "action": self.action, "before": self.before,
                "written": self.written, "current": self.current, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class RollbackReport:
    """``status``: reverted | partial (some fields conflicted) | conflict (nothing written because
    of conflicts) | noop (nothing left to undo) | failed (the CRM refused) | planned (dry run)."""

    change_id: str
    status: str
    object: str
    op: str
    record_id: str | None
    fields: tuple[FieldPlan, ...] = ()
    rollback_change_id: str | None = None
    new_record_id: str | None = None
    dry_run: bool = False
    force: bool = False
    error: dict[str, Any] | None = None
    message: str = ""

    @property
    def conflicts(self) -> tuple[FieldPlan, ...]:
        return tuple(f for f in self.fields if f.action == "conflict")

    def to_dict(self) -> dict[str, Any]:
        return {
            "change_id": self.change_id, "status": self.status, "object": self.object,
            "op": self.op, "record_id": self.record_id, "new_record_id": self.new_record_id,
            "rollback_change_id": self.rollback_change_id, "dry_run": self.dry_run,
            "force": self.force, "message": self.message,
            "fields": [f.to_dict() for f in self.fields],
            "conflicts": [f.field for f in self.conflicts], "error": self.error,
        }


def same(a: Any, b: Any) -> bool:
    """CRMs hand blanks back as null or "": both mean empty."""
    if a in (None, "") and b in (None, ""):
        return True
    if isinstance(a, bool) or isinstance(b, bool):  # True == 1 must not count as unchanged
        return a is b
    return bool(a == b)


@dataclass
class Rollback:
    adapter: Adapter
    store: TrailStore
    ids: IdFactory
    by: str = "admin"

    def run(self, change_id: str, *, dry_run: bool = False, force: bool = False) -> RollbackReport:
        intent, result = self._load(change_id)
        obj, op = intent.object or "", intent.op or ""
        record_id = (result.data.get("record_id") or intent.record_id)
        changes = list(intent.data.get("changes") or [])
        if op == "delete" and self._already_recreated(intent, change_id):
            return RollbackReport(change_id, "noop", obj, op, record_id, dry_run=dry_run, force=force,
                                  message="already rolled back: the record was re-created")
        try:
            current = self.adapter.get_many(obj, [record_id]).get(record_id) if op != "delete" else None
        except CRMError as exc:
            raise RollbackError(f"cannot read {obj} {record_id}: {exc.message}", code=exc.code) from exc
        plan, write_op, payload, message = _plan(op, changes, current, force)
        status = _planned_status(plan, write_op)
        base = dict(change_id=change_id, object=obj, op=op, record_id=record_id, fields=tuple(plan),
                    dry_run=dry_run, force=force)
        if dry_run or write_op is None:
            return RollbackReport(status="planned" if dry_run and write_op else status,
                                  message=message, **base)
        rb_id = self.ids("chg")
        expected = current.version if current is not None else None
        common = dict(proposal_id=intent.proposal_id, batch_id=rb_id, change_id=rb_id, actor=self.by,
                      use_case=intent.use_case, object=obj, record_id=record_id, op=write_op)
        self.store.append([NewEntry(kind="rollback.intent", **common, data={
            "reverts": change_id, "force": force, "plan": [f.to_dict() for f in plan],
            "changes": [{"field": f.field, "before": f.current, "after": f.before} for f in plan
                        if f.action in ("revert", "force")],
            "fields": payload, "expected_version": expected, "idempotency_key": rb_id,
        })])
        res = self._write(obj, write_op, record_id, payload, expected, rb_id)
        new_id = res.id if write_op == "create" else None
        error = res.error.to_dict() if res.error else None
        self.store.append([NewEntry(kind="rollback.result", **{**common, "record_id": new_id or record_id},
                                    data={"reverts": change_id, "status": res.status,
                                          "record_id": new_id or record_id, "error": error,
                                          "version": res.record.version if res.record else None})])
        final = status if res.ok else ("conflict" if res.status == "conflict" else "failed")
        return RollbackReport(status=final, rollback_change_id=rb_id, new_record_id=new_id,
                              error=error, message=message if res.ok else _fail_message(res), **base)

    def _load(self, change_id: str) -> tuple[Entry, Entry]:
        entries = self.store.entries_for(change_id=change_id)
        if not entries:
            raise RollbackError(f"no change {change_id} in the trail", code="unknown_change")
        intent = next((e for e in entries if e.kind in INTENT_KINDS), None)
        result = next((e for e in entries if e.kind in RESULT_KINDS), None)
        if intent is None:
            status = next((e.data.get("status") for e in entries if e.kind == "proposal.decided"), "?")
            raise RollbackError(f"change {change_id} was never written (status: {status})",
                                code="not_applied")
        if result is None:
            raise RollbackError(f"change {change_id} has no recorded result: check the record in the "
                                "CRM before rolling back", code="unresolved_change")
        if result.data.get("status") != "ok":
            raise RollbackError(f"change {change_id} was not applied ({result.data.get('status')}); "
                                "there is nothing to roll back", code="not_applied")
        return intent, result

    def _already_recreated(self, intent: Entry, change_id: str) -> bool:
        return any(e.kind == "rollback.result" and e.data.get("reverts") == change_id
                   and e.data.get("status") == "ok"
                   for e in self.store.entries_for(proposal_id=intent.proposal_id))

    def _write(self, obj: str, op: str, record_id: str | None, payload: Mapping[str, Any],
               expected: str | None, key: str) -> WriteResult:
        try:
            if op == "update":
                got = self.adapter.update_many(obj, [UpdateRequest(record_id, payload, expected)])  # type: ignore[arg-type]
            elif op == "delete":
                got = self.adapter.delete_many(obj, [DeleteRequest(record_id, expected)])  # type: ignore[arg-type]
            else:
                got = self.adapter.create_many(obj, [CreateRequest(payload, idempotency_key=key)])
        except CRMError as exc:
            return WriteResult(status="failed", error=exc.to_record_error())
        return got[0]


def _plan(op: str, changes: list[dict[str, Any]], current: Any, force: bool
          ) -> tuple[list[FieldPlan], str | None, dict[str, Any], str]:
    """Decide per field; return (plan, the rollback's CRM operation or None, its fields, message)."""
    if op == "delete":
        fields = {c["field"]: c["before"] for c in changes if c.get("before") not in (None, "")}
        plan = [FieldPlan(c["field"], "revert", c["before"], None, None, "re-create from before-image")
                for c in changes]
        return plan, "create", fields, "the deleted record is re-created from its before-image (new id)"
    if current is None:
        plan = [FieldPlan(c["field"], "skip" if op == "create" else "conflict", c["before"], c["after"],
                          None, "the record no longer exists") for c in changes]
        if op == "create":
            return plan, None, {}, "already rolled back: the created record no longer exists"
        return plan, None, {}, "conflict: the record no longer exists"
    plan = []
    for c in changes:
        f, before, after = c["field"], c.get("before"), c.get("after")
        now = current.fields.get(f)
        if same(now, after) and not same(now, before):
            plan.append(FieldPlan(f, "revert", before, after, now, "still holds the value crmgate wrote"))
        elif same(now, before):
            plan.append(FieldPlan(f, "skip", before, after, now, "already holds the before-value"))
        else:
            action: FieldAction = "force" if force else "conflict"
            plan.append(FieldPlan(f, action, before, after, now, "changed since crmgate wrote it"))
    conflicts = [p for p in plan if p.action == "conflict"]
    if op == "create":
        if conflicts:
            return plan, None, {}, "conflict: fields changed since the record was created; not deleted"
        if not any(p.action in ("revert", "force") for p in plan) and plan:
            return plan, None, {}, "nothing to undo"
        return plan, "delete", {}, "the created record is deleted"
    payload = {p.field: p.before for p in plan if p.action in ("revert", "force")}
    if not payload:
        return plan, None, {}, "conflict: every field changed since" if conflicts else "nothing to undo"
    msg = "before-values written back"
    if conflicts:
        msg += f"; conflicts left alone: {', '.join(p.field for p in conflicts)}"
    return plan, "update", payload, msg


def _planned_status(plan: list[FieldPlan], write_op: str | None) -> str:
    conflicts = any(p.action == "conflict" for p in plan)
    if write_op is None:
        return "conflict" if conflicts else "noop"
    return "partial" if conflicts else "reverted"


def _fail_message(res: WriteResult) -> str:
    if res.status == "conflict":
        return "not written: the record changed between the rollback's read and its write"
    return f"not written: {res.error.message if res.error else 'the CRM refused the write'}"
