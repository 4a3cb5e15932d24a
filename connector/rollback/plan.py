"""Planning a rollback of one record: pure functions of the changes undone and the record now.

Several selected changes may touch one record (an agent that edited a deal three times). They are
undone together, with ONE write per record:

* Per field, the changes are taken oldest first and split into *runs* where each change starts
  from the value the previous one wrote. A break means someone else wrote the field in between.
  The field goes back to the value before the first change of the LAST run if it still holds the
  value the last change wrote (``revert``); it is ``skip`` when it already holds that value, and a
  ``conflict`` (kept) otherwise. Changes in earlier runs were overwritten by someone else: their
  field is a ``conflict`` and the other writer's value survives. With ``force`` the field goes
  back to the value before the first change, whatever it holds (``force``).
* A record the selection created is deleted (only if none of its fields conflicts); a record the
  selection deleted is re-created from the delete's before-image with earlier changes undone
  (a new id: no CRM has an API undelete), unless the selection also created it.
* Fields a previous rollback already undid are left out (``done``), so running the same rollback
  twice writes nothing the second time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

from crmgate.adapters.base import Record
from crmgate.rules.conditions import values_equal

FieldAction = Literal["revert", "force", "conflict", "skip"]
ALL = "*"  # marker in ``done``: the whole change was undone (a create deleted, a delete re-created)


def same(a: Any, b: Any) -> bool:
    """CRMs hand blanks back as null or "": both mean empty."""
    return (a in (None, "") and b in (None, "")) or values_equal(a, b)


@dataclass(frozen=True, slots=True)
class FieldPlan:
    field: str
    action: FieldAction
    before: Any  # the value the rollback restores (the value before the change being reverted)
    written: Any  # what that change wrote
    current: Any  # what the record holds now
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "action": self.action, "before": self.before,
                "written": self.written, "current": self.current, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Change:
    """One applied change as a rollback sees it (from its intent and result entries)."""

    change_id: str
    proposal_id: str | None
    kind: str  # "write" (a governed change) or "rollback" (undoing a rollback)
    object: str
    op: str  # create | update | delete: what the change did to the record
    record_id: str
    actor: str | None
    use_case: str | None
    changes: tuple[dict[str, Any], ...]  # [{field, before, after}]
    seq: int  # the result's sequence number: orders changes oldest first
    ts: str = ""


@dataclass
class RecordPlan:
    """What undoing ``changes`` (oldest first) does to one record."""

    object: str
    record_id: str
    changes: list[Change]
    current: Record | None
    write_op: str | None = None  # update | delete | create, or None: nothing to write
    payload: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, list[FieldPlan]] = field(default_factory=dict)  # change_id -> its field plans
    done: set[str] = field(default_factory=set)  # change ids already fully undone before
    message: str = ""

    @property
    def expected_version(self) -> str | None:
        return self.current.version if self.current is not None else None

    def writes(self, change: Change) -> bool:
        """Whether this record's write undoes (part of) ``change``."""
        if self.write_op is None or change.change_id in self.done:
            return False
        if self.write_op in ("create", "delete"):
            return True
        return any(p.action in ("revert", "force") for p in self.fields.get(change.change_id, ()))


def plan_record(changes: list[Change], current: Record | None, *, force: bool,
                done: dict[str, set[str]]) -> RecordPlan:
    """Plan the rollback of ``changes`` (one record, oldest first) against the record ``current``.

    ``done`` maps change ids to the fields a previous rollback already undid (:data:`ALL`: all).
    """
    first = changes[0]
    plan = RecordPlan(first.object, first.record_id, changes, current)
    active: list[tuple[Change, list[dict[str, Any]]]] = []
    for ch in changes:
        skip = done.get(ch.change_id, set())
        left = [c for c in ch.changes if c["field"] not in skip]
        if ALL in skip or (skip and not left):
            plan.done.add(ch.change_id)
            plan.fields[ch.change_id] = []
        else:
            active.append((ch, left))
    if not active:
        plan.message = "already rolled back"
        return plan
    first_op, last_op = active[0][0].op, active[-1][0].op
    if last_op == "delete":
        return _plan_recreate(plan, active, first_op)
    if current is None:
        action: FieldAction = "skip" if first_op == "create" else "conflict"
        for ch, left in active:
            plan.fields[ch.change_id] = [FieldPlan(c["field"], action, c.get("before"), c.get("after"),
                                                   None, "the record no longer exists") for c in left]
        plan.message = ("already rolled back: the created record no longer exists" if first_op == "create"
                        else "conflict: the record no longer exists")
        return plan
    targets = _field_plans(plan, active, current, force)
    conflicts = [p.field for ps in plan.fields.values() for p in ps if p.action == "conflict"]
    moving = {f: t for f, (t, act) in targets.items() if act in ("revert", "force")}
    if first_op == "create":
        if conflicts:
            plan.message = "conflict: fields changed since the record was created; not deleted"
        elif not moving and any(plan.fields.values()):
            plan.message = "nothing to undo"
        else:
            plan.write_op, plan.message = "delete", "the created record is deleted"
        return plan
    if not moving:
        plan.message = "conflict: every field changed since" if conflicts else "nothing to undo"
        return plan
    plan.write_op, plan.payload = "update", moving
    plan.message = "before-values written back"
    if conflicts:
        plan.message += f"; conflicts left alone: {', '.join(sorted(set(conflicts)))}"
    return plan


def _field_plans(plan: RecordPlan, active: list[tuple[Change, list[dict[str, Any]]]],
                 current: Record, force: bool) -> dict[str, tuple[Any, FieldAction]]:
    """Fill ``plan.fields``; return each field's (target, action of its last run)."""
    per_field: dict[str, list[tuple[Change, dict[str, Any]]]] = {}
    for ch, left in active:
        plan.fields[ch.change_id] = []
        for c in left:
            per_field.setdefault(c["field"], []).append((ch, c))
    out: dict[str, tuple[Any, FieldAction]] = {}
    for name, seq in per_field.items():
        now = current.fields.get(name)
        runs = [[seq[0]]] if not force else [seq]
        if not force:
            for prev, item in pairwise(seq):
                if same(item[1].get("before"), prev[1].get("after")):
                    runs[-1].append(item)
                else:
                    runs.append([item])
        last = runs[-1]
        target, written = last[0][1].get("before"), last[-1][1].get("after")
        if same(now, target):
            action, why = "skip", "already holds the before-value"
        elif force:
            action = "force"
            why = ("still holds the value crmgate wrote" if same(now, written)
                   else "changed since crmgate wrote it; forced")
        elif same(now, written):
            action, why = "revert", "still holds the value crmgate wrote"
        else:
            action, why = "conflict", "changed since crmgate wrote it"
        if len(last) > 1:
            why += f" (restores the value before {last[0][0].change_id})"
        out[name] = (target, action)  # type: ignore[assignment]
        for run in runs[:-1]:
            for ch, c in run:
                plan.fields[ch.change_id].append(FieldPlan(
                    name, "conflict", c.get("before"), c.get("after"), now,
                    "overwritten by someone else before a later change; their value is kept"))
        for ch, c in last:
            plan.fields[ch.change_id].append(FieldPlan(name, action, target, c.get("after"), now, why))  # type: ignore[arg-type]
    return out


def _plan_recreate(plan: RecordPlan, active: list[tuple[Change, list[dict[str, Any]]]],
                   first_op: str) -> RecordPlan:
    if plan.current is not None:
        for ch, left in active:
            plan.fields[ch.change_id] = [FieldPlan(c["field"], "conflict", c.get("before"), c.get("after"),
                                                   plan.current.fields.get(c["field"]),
                                                   "the deleted record exists again") for c in left]
        plan.message = "conflict: the deleted record exists again; not re-created"
        return plan
    if first_op == "create":
        for ch, left in active:
            plan.fields[ch.change_id] = [FieldPlan(c["field"], "skip", c.get("before"), c.get("after"), None,
                                                   "created and deleted within this rollback")
                                         for c in left]
        plan.message = "created and deleted within this rollback: nothing to restore"
        return plan
    targets: dict[str, Any] = {}  # per field: the before-value of the first change of its last run
    last_after: dict[str, Any] = {}
    for _ch, left in active:
        for c in left:
            name = c["field"]
            if name not in targets or not same(c.get("before"), last_after[name]):
                targets[name] = c.get("before")
            last_after[name] = c.get("after")
    for ch, left in active:
        plan.fields[ch.change_id] = [FieldPlan(c["field"], "revert", targets[c["field"]], c.get("after"),
                                               None, "re-create from before-image") for c in left]
    plan.write_op = "create"
    plan.payload = {f: v for f, v in sorted(targets.items()) if v not in (None, "")}
    plan.message = "the deleted record is re-created from its before-image (new id)"
    return plan
