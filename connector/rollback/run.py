"""Conflict-aware rollback: one change, a batch, or everything an actor or use case did in a window.

A field is written back only where the record still holds the value crmgate wrote; a field that
moved since (a person edited it) is a conflict and is left alone unless ``force``. A field that
already holds its before-value is skipped, and fields an earlier rollback undid are left out, so a
repeated rollback writes nothing. Rolling back a create deletes the record (only if none of its
written fields moved); rolling back a delete re-creates it from its before-image (a new id, as the
CRMs have no undelete). How several changes to one record combine: :mod:`crmgate.rollback.plan`;
which changes a selector takes: :mod:`crmgate.rollback.selection`.

Execution (:meth:`Rollback.run_many`): one ``get_many`` per object (per ``max_batch`` chunk), a plan
per record, ONE trail append holding a ``rollback.intent`` for every change undone, one
conditional ``update_many``/``delete_many``/``create_many`` per object and operation chunk (the
same call count as the forward writes), then ONE append of the ``rollback.result`` entries. Each
undone change gets its own rollback change id, with ``reverts`` naming it and its proposal id, so
the trail links every rollback to the change it undoes (several changes to one record share one
CRM write, named by ``record_write``).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from crmgate.adapters.base import (
    Adapter,
    CreateRequest,
    DeleteRequest,
    Record,
    UpdateRequest,
    WriteResult,
)
from crmgate.adapters.errors import CRMError, RecordError
from crmgate.clock import IdFactory
from crmgate.errors import RollbackError
from crmgate.rollback.messages import rollback_message
from crmgate.rollback.plan import (
    Change,
    FieldAction,
    FieldPlan,
    RecordPlan,
    plan_record,
    same,
)
from crmgate.rollback.selection import Selector, done_fields, select_changes, unjudged
from crmgate.trail import NewEntry, TrailStore

log = structlog.get_logger("crmgate.rollback")

__all__ = ["BulkRollbackReport", "Change", "FieldAction", "FieldPlan", "Rollback", "RollbackReport",
           "Selector", "same"]

Progress = Callable[[int, int], None]  # (records written so far, records to write)


@dataclass(frozen=True, slots=True)
class RollbackReport:
    """One change's rollback. ``status``: reverted | partial (some fields conflicted) | conflict
    (nothing written because of conflicts) | noop (nothing left to undo) | failed (the CRM refused)
    | unknown (the write was sent, its outcome not known: never reported as failed) | planned (dry run)."""

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
    actor: str | None = None
    use_case: str | None = None

    @property
    def conflicts(self) -> tuple[FieldPlan, ...]:
        return tuple(f for f in self.fields if f.action == "conflict")

    def to_dict(self) -> dict[str, Any]:
        return {
            "change_id": self.change_id, "status": self.status, "object": self.object,
            "op": self.op, "record_id": self.record_id, "new_record_id": self.new_record_id,
            "rollback_change_id": self.rollback_change_id, "dry_run": self.dry_run,
            "force": self.force, "message": self.message, "actor": self.actor, "use_case": self.use_case,
            "fields": [f.to_dict() for f in self.fields],
            "conflicts": [f.field for f in self.conflicts], "error": self.error,
        }


SUMMARY_KEYS = ("reverted", "partial", "conflict", "failed", "unknown", "noop", "planned")


@dataclass(frozen=True, slots=True)
class BulkRollbackReport:
    """A selection's rollback: one :class:`RollbackReport` per selected change, newest first."""

    selector: dict[str, Any]
    changes: tuple[RollbackReport, ...]
    dry_run: bool = False
    force: bool = False
    batch_id: str | None = None  # the rollback run's batch id in the trail (None: nothing written)
    #: adapter method calls made (get_many once per object; writes once per object, op and max_batch chunk)
    calls: dict[str, int] = field(default_factory=dict)
    #: selected changes whose effect is not known (unknown, or no result): not judged, not undone
    unjudged: tuple[str, ...] = ()

    @property
    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(SUMMARY_KEYS, 0)
        for r in self.changes:
            counts[r.status] = counts.get(r.status, 0) + 1
        return {"selected": len(self.changes), "reverted": counts["reverted"], "partial": counts["partial"],
                "conflicts": counts["conflict"], "failed": counts["failed"], "unknown": counts["unknown"],
                "skipped": counts["noop"],
                "planned": counts["planned"],
                "conflict_fields": sum(len(r.conflicts) for r in self.changes), "unjudged": len(self.unjudged)}

    @property
    def ok(self) -> bool:
        """No CRM write failed or went unanswered, and no selected change was left unjudged."""
        return not any(r.status in ("failed", "unknown") for r in self.changes) and not self.unjudged

    def to_dict(self) -> dict[str, Any]:
        out = {"selector": self.selector, "dry_run": self.dry_run, "force": self.force,
               "batch_id": self.batch_id, "summary": self.summary, "calls": self.calls,
               "changes": [r.to_dict() for r in self.changes], "unjudged": list(self.unjudged)}
        if self.unjudged:
            out["warning"] = (f"{len(self.unjudged)} selected changes could not be judged (outcome unknown or "
                              "unresolved) and were not rolled back: run crmgate reconcile (or rollback "
                              "--reconcile-first), then roll back again")
        return out


@dataclass
class Rollback:
    adapter: Adapter
    store: TrailStore
    ids: IdFactory
    by: str = "admin"

    def run(self, change_id: str, *, dry_run: bool = False, force: bool = False) -> RollbackReport:
        """Undo one change (a governed change, or an earlier rollback)."""
        bulk = self.run_many(Selector(change=change_id), dry_run=dry_run, force=force)
        return bulk.changes[0]

    def run_many(self, selector: Selector, *, dry_run: bool = False, force: bool = False,
                 progress: Progress | None = None) -> BulkRollbackReport:
        """Undo every change ``selector`` names; see the module docstring."""
        sel = selector.checked()
        changes = select_changes(self.store, sel)
        done = done_fields(self.store, changes)
        by_record: dict[tuple[str, str], list[Change]] = defaultdict(list)
        for ch in changes:
            by_record[(ch.object, ch.record_id)].append(ch)
        calls: dict[str, int] = defaultdict(int)
        current = self._read(by_record, calls)
        plans = [plan_record(chs, current.get(key), force=force, done=done) for key, chs in by_record.items()]
        plans.sort(key=lambda p: -p.changes[-1].seq)  # newest first
        writing = [p for p in plans if p.write_op is not None]
        results: dict[tuple[str, str], WriteResult] = {}
        rb_ids: dict[str, str] = {}
        batch_id = None
        if writing and not dry_run:
            batch_id = self.ids("bat")
            for p in writing:
                for ch in p.changes:
                    if p.writes(ch):
                        rb_ids[ch.change_id] = self.ids("chg")
            self.store.append([e for p in writing for e in self._intents(p, rb_ids, batch_id, force)])
            results = self._write_all(writing, rb_ids, calls, progress)
            self.store.append([e for p in writing for e in self._results(p, rb_ids, batch_id, results)])
        reports = [self._report(p, ch, rb_ids, results.get((p.object, p.record_id)), dry_run, force)
                   for p in plans for ch in p.changes]
        seq = {c.change_id: c.seq for c in changes}
        reports.sort(key=lambda r: -seq[r.change_id])
        return BulkRollbackReport(sel.to_dict(), tuple(reports), dry_run, force, batch_id, dict(calls),
                                  tuple(unjudged(self.store, sel)))

    def open_changes(self, selector: Selector) -> list[str]:
        """The selection's changes whose effect is not known yet (for ``--reconcile-first``)."""
        return unjudged(self.store, selector.checked())

    # -- CRM ------------------------------------------------------------------------------------
    def _read(self, by_record: dict[tuple[str, str], list[Change]], calls: dict[str, int]
              ) -> dict[tuple[str, str], Record]:
        ids: dict[str, list[str]] = defaultdict(list)
        for obj, rid in by_record:
            if rid:
                ids[obj].append(rid)
        out: dict[tuple[str, str], Record] = {}
        for obj, wanted in ids.items():  # one call per object, as the write path reads before-images
            try:
                calls["get_many"] += 1
                for rid, rec in self.adapter.get_many(obj, wanted).items():
                    out[(obj, rid)] = rec
            except CRMError as exc:
                raise RollbackError(f"cannot read {obj} records: {exc.message}", code=exc.code) from exc
        return out

    def _write_all(self, plans: list[RecordPlan], rb_ids: dict[str, str], calls: dict[str, int],
                   progress: Progress | None) -> dict[tuple[str, str], WriteResult]:
        groups: dict[tuple[str, str], list[RecordPlan]] = defaultdict(list)
        for p in plans:
            groups[(p.object, p.write_op)].append(p)  # type: ignore[index]
        results: dict[tuple[str, str], WriteResult] = {}
        written = 0
        for (obj, op), group in groups.items():
            for chunk in _chunks(group, self.adapter.max_batch):
                calls[f"{op}_many"] += 1
                for p, res in zip(chunk, self._call(obj, op, chunk, rb_ids)):
                    if res.status == "failed" and res.error is not None and res.error.ambiguous:
                        res = replace(res, status="unknown")  # type: ignore[arg-type]  # may have landed
                    results[(p.object, p.record_id)] = res
                written += len(chunk)
                if progress is not None:
                    progress(written, len(plans))
        return results

    def _call(self, obj: str, op: str, chunk: list[RecordPlan], rb_ids: dict[str, str]) -> list[WriteResult]:
        try:
            if op == "update":
                # strict: a person's edit between our read and our write must end as a conflict
                got = self.adapter.update_many(obj, [UpdateRequest(p.record_id, p.payload, p.expected_version,
                                                                   strict=True) for p in chunk])
            elif op == "delete":
                got = self.adapter.delete_many(obj, [DeleteRequest(p.record_id, p.expected_version)
                                                     for p in chunk])
            else:
                got = self.adapter.create_many(obj, [CreateRequest(p.payload, idempotency_key=_lead(p, rb_ids))
                                                     for p in chunk])
            if len(got) != len(chunk):
                raise CRMError(f"adapter returned {len(got)} results for {len(chunk)} requests",
                               code="malformed_response")
            return got
        except CRMError as exc:  # ambiguous: the write may have landed, so it is unknown, never failed
            status = "unknown" if exc.ambiguous else "failed"
            return [WriteResult(status=status, error=exc.to_record_error()) for _ in chunk]  # type: ignore[arg-type]
        except Exception as exc:  # an adapter bug: the intents are recorded, so record the results too
            log.exception("rollback.adapter_bug", object=obj, op=op)
            err = RecordError(code="unknown_outcome", ambiguous=True, message=(
                f"the adapter raised {type(exc).__name__}; the write may or may not have happened: "
                "check the record before retrying"))
            return [WriteResult(status="unknown", error=err) for _ in chunk]  # type: ignore[arg-type]

    # -- trail ----------------------------------------------------------------------------------
    def _common(self, p: RecordPlan, ch: Change, rb_id: str, batch_id: str) -> dict[str, Any]:
        return {"proposal_id": ch.proposal_id, "batch_id": batch_id, "change_id": rb_id, "actor": self.by,
                "use_case": ch.use_case, "object": p.object, "record_id": p.record_id, "op": p.write_op}

    def _intents(self, p: RecordPlan, rb_ids: dict[str, str], batch_id: str, force: bool) -> list[NewEntry]:
        out = []
        lead = _lead(p, rb_ids)
        for ch in p.changes:
            if ch.change_id not in rb_ids:
                continue
            plan = p.fields.get(ch.change_id, [])
            out.append(NewEntry(kind="rollback.intent", **self._common(p, ch, rb_ids[ch.change_id], batch_id),
                                data={
                "reverts": ch.change_id, "force": force, "plan": [f.to_dict() for f in plan],
                "changes": [{"field": f.field, "before": f.current, "after": f.before} for f in plan
                            if f.action in ("revert", "force")],
                "fields": p.payload, "expected_version": p.expected_version, "idempotency_key": lead,
                "record_write": lead, "with": [c.change_id for c in p.changes
                                               if c.change_id in rb_ids and c.change_id != ch.change_id],
            }))
        return out

    def _results(self, p: RecordPlan, rb_ids: dict[str, str], batch_id: str,
                 results: dict[tuple[str, str], WriteResult]) -> list[NewEntry]:
        res = results[(p.object, p.record_id)]
        new_id = res.id if p.write_op == "create" else None
        error = res.error.to_dict() if res.error else None
        out = []
        for ch in p.changes:
            if ch.change_id not in rb_ids:
                continue
            common = self._common(p, ch, rb_ids[ch.change_id], batch_id)
            common["record_id"] = new_id or p.record_id
            out.append(NewEntry(kind="rollback.result", **common, data={
                "reverts": ch.change_id, "status": res.status, "record_id": new_id or p.record_id,
                "error": error, "version": res.record.version if res.record else None}))
        return out

    @staticmethod
    def _report(p: RecordPlan, ch: Change, rb_ids: dict[str, str], res: WriteResult | None,
                dry_run: bool, force: bool) -> RollbackReport:
        fields = tuple(p.fields.get(ch.change_id, ()))
        base = {"change_id": ch.change_id, "object": ch.object, "op": ch.op, "record_id": ch.record_id,
                "fields": fields, "dry_run": dry_run, "force": force, "actor": ch.actor,
                "use_case": ch.use_case}
        conflicted = any(f.action == "conflict" for f in fields)

        def said(status: str, **kw: Any) -> str:
            return rollback_message(status, ch.op, p.write_op, fields, dry_run=dry_run, reason=p.message, **kw)

        if ch.change_id in p.done:
            return RollbackReport(status="noop", message=rollback_message(
                "noop", ch.op, None, fields, dry_run=dry_run, reason="already rolled back"), **base)
        if not p.writes(ch):
            status = "conflict" if conflicted else "noop"
            reason = p.message.removeprefix("conflict: ") if p.write_op is None else ""
            return RollbackReport(status=status, message=rollback_message(
                status, ch.op, None, fields, dry_run=dry_run, reason=reason), **base)
        if dry_run:
            return RollbackReport(status="planned", message=said("planned"), **base)
        assert res is not None
        error = res.error.to_dict() if res.error else None
        if res.ok:
            status = "partial" if conflicted else "reverted"
            message = said(status, new_record_id=res.id if p.write_op == "create" else None)
        elif res.status == "conflict":
            status, message = "conflict", said("conflict")
        elif res.status == "unknown":
            status = "unknown"
            message = ("outcome unknown: the rollback write was sent but its answer was lost "
                       f"({res.error.message if res.error else 'no answer'}); read the record, then run the "
                       "rollback again: it is conditional, so it never overwrites a later edit")
        else:
            status = "failed"
            message = said("failed", error=res.error.message if res.error else None)
        return RollbackReport(status=status, rollback_change_id=rb_ids.get(ch.change_id),
                              new_record_id=res.id if p.write_op == "create" and res.ok else None,
                              error=error, message=message, **base)


def _lead(p: RecordPlan, rb_ids: dict[str, str]) -> str:
    """The rollback change id that names this record's one CRM write (its oldest undone change)."""
    return next(rb_ids[c.change_id] for c in p.changes if c.change_id in rb_ids)


def _chunks(items: list[Any], n: int) -> list[list[Any]]:
    n = max(1, int(n or 1))
    return [items[i:i + n] for i in range(0, len(items), n)]
