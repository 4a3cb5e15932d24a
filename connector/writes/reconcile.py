"""Reconcile: find out what became of writes whose outcome is not known, and record it.

The work list is ``crmgate_inflight`` (:mod:`crmgate.writes.inflight`): every ``unknown`` write, and
every intent without a result older than ``older_than``. For each change, claimed first so several
workers on one store never judge it twice, the CRM is read (one ``get_many`` per object; creates by
idempotency key with ``find_created``) and one of three verdicts is recorded:

* **applied**: the record holds the intended values (a delete: the record is gone), or a create
  exists under its key. A ``write.reconciled`` entry (status ``ok``, the record id and version)
  makes it an applied change like any other: status, reports and rollback take it.
* **not applied**: if the proposal is still allowed (a fresh check says ``apply``) and the record
  still holds its before-values, the write is driven again with the same change id and key
  (``write.intent`` with ``redrive``, then ``write.result``); otherwise ``write.reconciled`` with
  status ``failed`` and the reason.
* **cannot tell**: the change stays ``unknown`` (an intent without result gets one
  ``write.reconciled`` of status ``unknown``), and the report says why.

The idempotency key's stored outcome is replaced by the verdict, so a repeat of the key replays it.
Running reconcile twice is harmless: a resolved change leaves the work list.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from crmgate import tables
from crmgate.adapters.base import Adapter, CreateRequest, DeleteRequest, Record, UpdateRequest, WriteResult
from crmgate.adapters.errors import CRMError
from crmgate.clock import Clock, IdFactory
from crmgate.rules.proposal import Proposal
from crmgate.trail import Entry, NewEntry, TrailStore
from crmgate.writes import inflight
from crmgate.writes.outcome import Outcome

_OF_WRITE = {"ok": "applied", "conflict": "conflict", "failed": "failed", "unknown": "unknown"}
Allowed = Callable[[list[Proposal]], list[str | None]]  # per proposal: None if still allowed, else why not


@dataclass(frozen=True, slots=True)
class Verdict:
    """What reconcile found for one change. ``verdict``: applied | redriven | failed | unknown |
    claimed (another worker holds it) | planned (dry run: what it would do)."""

    change_id: str
    proposal_id: str
    object: str
    op: str
    verdict: str
    reason: str
    record_id: str | None = None
    status: str | None = None  # the change's status after this run (applied, failed, unknown, ...)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    dry_run: bool
    items: tuple[Verdict, ...] = ()

    @property
    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for v in self.items:
            counts[v.verdict] += 1
        return {"examined": len(self.items), **{k: counts[k] for k in
                ("applied", "redriven", "failed", "unknown", "claimed", "planned")}}

    @property
    def unresolved(self) -> list[Verdict]:
        """Changes this run could not settle (unknown, or held by another worker)."""
        return [v for v in self.items if v.status in ("unknown", None) or v.verdict == "claimed"]

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "summary": self.summary,
                "unresolved": [v.change_id for v in self.unresolved], "changes": [v.to_dict() for v in self.items]}


@dataclass
class _Case:
    row: Any
    intent: Entry
    decided: Entry | None
    stored: Outcome | None = None
    record: Record | None = None
    verdict: str = ""
    reason: str = ""
    how: str = ""
    redrive: WriteResult | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Reconciler:
    """Judges in-flight writes against the CRM; see the module docstring."""

    def __init__(self, *, adapter: Adapter, store: TrailStore, clock: Clock, ids: IdFactory,
                 allowed: Allowed, worker: str | None = None, lease: timedelta = timedelta(minutes=5)) -> None:
        self.adapter, self.store, self.clock, self.ids = adapter, store, clock, ids
        self.allowed = allowed
        self.worker = worker or inflight.worker_id()
        self.lease = lease

    def run(self, *, older_than: timedelta = timedelta(0), change_ids: Iterable[str] | None = None,
            dry_run: bool = False) -> ReconcileReport:
        now = self.clock()
        with self.store.engine.connect() as conn:
            rows = inflight.pending(conn, older_than=now - older_than,
                                    change_ids=list(change_ids) if change_ids is not None else None)
        out: list[Verdict] = []
        cases: list[_Case] = []
        for row in rows:
            if not dry_run and not inflight.claim(self.store.engine, row.change_id, self.worker, now, self.lease):
                out.append(Verdict(row.change_id, row.proposal_id, row.object, row.op, "claimed",
                                   "another worker is reconciling it now"))
                continue
            case = self._load(row)
            if case is not None:
                cases.append(case)
        self._judge(cases)
        if dry_run:
            return ReconcileReport(True, tuple(out + [self._verdict(c, planned=True) for c in cases]))
        self._redrive([c for c in cases if c.verdict == "redrive"])
        self._record(cases)
        return ReconcileReport(False, tuple(out + [self._verdict(c) for c in cases]))

    # -- reading ------------------------------------------------------------------------------
    def _load(self, row: Any) -> _Case | None:
        entries = self.store.entries_for(change_id=row.change_id)
        intent = next((e for e in reversed(entries) if e.kind == "write.intent"), None)
        if intent is None:  # nothing was ever sent: not in flight at all
            with self.store.engine.begin() as conn:
                inflight.release(conn, row.change_id, state=None)
            return None
        decided = next((e for e in entries if e.kind == "proposal.decided"), None)
        case = _Case(row, intent, decided)
        if row.idempotency_key:
            with self.store.engine.connect() as conn:
                stored = tables.stored_outcomes(conn, {row.idempotency_key}).get(row.idempotency_key)
            case.stored = Outcome.from_dict(stored) if stored else None
        return case

    def _judge(self, cases: list[_Case]) -> None:
        by_object: dict[str, list[_Case]] = defaultdict(list)
        for c in cases:
            by_object[c.row.object].append(c)
        for obj, group in by_object.items():
            creates = [c for c in group if c.row.op == "create"]
            others = [c for c in group if c.row.op != "create"]
            try:
                found = self.adapter.find_created(obj, [c.row.change_id for c in creates]) if creates else {}
                current = self.adapter.get_many(obj, [c.intent.record_id for c in others if c.intent.record_id])
            except CRMError as exc:
                for c in group:
                    c.verdict, c.reason = "unknown", f"the CRM could not be read: {exc.message}"
                continue
            for c in creates:
                self._judge_create(c, found)
            for c in others:
                c.record = current.get(c.intent.record_id or "")
                self._judge_change(c)
        todo = [c for c in cases if c.verdict == "redrive"]
        reasons = self.allowed([self._proposal(c) for c in todo]) if todo else []
        for c, why in zip(todo, reasons):
            if why is not None:
                c.verdict, c.reason = "failed", f"not applied, and no longer allowed: {why}"

    def _judge_create(self, c: _Case, found: dict[str, Record] | None) -> None:
        if found is not None and c.row.change_id in found:
            c.record = found[c.row.change_id]
            c.verdict, c.how, c.reason = "applied", "idempotency_key", "the create exists under its idempotency key"
        elif found is not None or self.adapter.idempotent_creates:
            c.verdict, c.reason = "redrive", "not applied: no record exists under its idempotency key"
        else:
            c.verdict, c.reason = "unknown", ("this CRM cannot be searched by idempotency key (set an "
                                              "idempotency field or property): check the CRM by hand")

    def _judge_change(self, c: _Case) -> None:
        intended = c.intent.data.get("fields") or {}
        befores = {ch["field"]: ch.get("before") for ch in c.intent.data.get("changes") or []}
        rec = c.record
        if c.row.op == "delete":
            if rec is None:
                c.verdict, c.how, c.reason = "applied", "absent", "the record is gone"
            elif rec.version == c.intent.data.get("expected_version"):
                c.verdict, c.reason = "redrive", "not applied: the record is unchanged since its before-image"
            else:
                c.verdict, c.reason = "unknown", "the record still exists but changed since its before-image"
            return
        if rec is None:
            c.verdict, c.reason = "failed", "not applied: the record no longer exists"
        elif all(_same(rec.fields.get(f), v) for f, v in intended.items()):
            c.verdict, c.how, c.reason = "applied", "values", "the record holds the intended values"
        elif all(_same(rec.fields.get(f), v) for f, v in befores.items()):
            c.verdict, c.reason = "redrive", "not applied: the record still holds its before-values"
        else:
            c.verdict = "unknown"
            c.reason = "the record holds neither the intended nor the before-values (edited since)"

    def _proposal(self, c: _Case) -> Proposal:
        data = dict((c.decided.data.get("proposal") if c.decided else None) or {})
        data.pop("idempotency_key", None)  # judged afresh, not replayed
        return Proposal.model_validate({**data, "object": c.intent.object, "op": c.intent.op,
                                        "record_id": c.intent.record_id, "actor": c.intent.actor})

    # -- writing ------------------------------------------------------------------------------
    def _redrive(self, cases: list[_Case]) -> None:
        if not cases:
            return
        intents = []
        for c in cases:
            data = dict(c.intent.data)
            data.update(redrive=True, expected_version=c.record.version if c.record else None)
            c.extra["expected_version"] = data["expected_version"]
            intents.append(self._entry(c, "write.intent", data))
        self.store.append(intents)
        groups: dict[tuple[str, str], list[_Case]] = defaultdict(list)
        for c in cases:
            groups[(c.row.object, c.row.op)].append(c)
        for (obj, op), group in groups.items():
            try:
                got = self._call(obj, op, group)
            except CRMError as exc:
                got = [WriteResult("failed", error=exc.to_record_error()) for _ in group]
            for c, res in zip(group, got):
                if res.status == "failed" and res.error is not None and res.error.ambiguous:
                    res = replace(res, status="unknown")  # type: ignore[arg-type]
                c.redrive = res

    def _call(self, obj: str, op: str, group: list[_Case]) -> list[WriteResult]:
        if op == "create":
            return self.adapter.create_many(obj, [CreateRequest(c.intent.data.get("fields") or {},
                                                                idempotency_key=c.row.change_id) for c in group])
        if op == "update":
            return self.adapter.update_many(obj, [UpdateRequest(c.intent.record_id or "", c.intent.data.get("fields") or {},
                                                                c.extra["expected_version"]) for c in group])
        return self.adapter.delete_many(obj, [DeleteRequest(c.intent.record_id or "", c.extra["expected_version"])
                                              for c in group])

    def _record(self, cases: list[_Case]) -> None:
        entries: list[NewEntry] = []
        for c in cases:
            if c.redrive is not None:
                res = c.redrive
                c.extra["status"] = _OF_WRITE[res.status]
                c.extra["record_id"] = res.id or c.intent.record_id
                c.extra["error"] = res.error.to_dict() if res.error else None
                entries.append(self._entry(c, "write.result", {
                    "status": res.status, "record_id": c.extra["record_id"], "redrive": True,
                    "version": res.record.version if res.record else None, "error": c.extra["error"],
                    "after": dict(res.record.fields) if res.record else None, "info": res.info or None,
                }, record_id=c.extra["record_id"]))
                continue
            status = {"applied": "ok", "failed": "failed"}.get(c.verdict, "unknown")
            c.extra["status"] = _OF_WRITE[status]
            c.extra["record_id"] = c.record.id if c.record else c.intent.record_id
            if status == "unknown" and c.row.state == "unknown":
                continue  # already recorded as unknown: nothing new to say
            entries.append(self._entry(c, "write.reconciled", {
                "status": status, "how": c.how or None, "reason": c.reason, "record_id": c.extra["record_id"],
                "version": c.record.version if c.record and status == "ok" else None,
                "after": dict(c.record.fields) if c.record and status == "ok" else None,
            }, record_id=c.extra["record_id"]))

        def also(conn: sa.Connection, _entries: list) -> None:
            for c in cases:
                status = c.extra["status"]
                inflight.release(conn, c.row.change_id, state="unknown" if status == "unknown" else None)
                if c.row.idempotency_key and c.stored is not None:
                    reason = f"reconciled: {c.reason}" + ("; written again" if c.redrive is not None else "")
                    outcome = replace(c.stored, status=status, record_id=c.extra["record_id"], reason=reason,
                                      error=c.extra.get("error") if status != "applied" else None, replayed=False)
                    inflight.save_outcome(conn, c.row.idempotency_key, c.row.proposal_id, outcome)

        if entries:
            self.store.append(entries, also=also)
        elif cases:
            with self.store.engine.begin() as conn:
                also(conn, [])

    def _entry(self, c: _Case, kind: str, data: dict[str, Any], record_id: str | None = None) -> NewEntry:
        i = c.intent
        return NewEntry(kind=kind, proposal_id=i.proposal_id, batch_id=i.batch_id, change_id=i.change_id,
                        actor=i.actor, use_case=i.use_case, object=i.object, record_id=record_id or i.record_id,
                        op=i.op, data=data)

    @staticmethod
    def _verdict(c: _Case, *, planned: bool = False) -> Verdict:
        verdict = {"redrive": "redriven"}.get(c.verdict, c.verdict)
        if planned:
            return Verdict(c.row.change_id, c.row.proposal_id, c.row.object, c.row.op, "planned",
                           f"would be {verdict}: {c.reason}", c.record.id if c.record else c.intent.record_id)
        return Verdict(c.row.change_id, c.row.proposal_id, c.row.object, c.row.op, verdict, c.reason,
                       c.extra.get("record_id"), c.extra.get("status"))


def _same(a: Any, b: Any) -> bool:
    """CRM values compare loosely: an absent field is an empty one; 5 == 5.0."""
    if a in (None, "") or b in (None, ""):
        return a in (None, "") and b in (None, "")
    return a == b or str(a) == str(b)


def older(seconds: float) -> timedelta:
    return timedelta(seconds=max(0.0, float(seconds)))


__all__ = ["ReconcileReport", "Reconciler", "Verdict", "older"]
