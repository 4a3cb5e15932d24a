"""Which changes a rollback undoes: selectors over the trail, and what earlier rollbacks already did.

Selectors (exactly one): ``change`` (one change id: a governed change, or a rollback to undo),
``batch`` (every change of a proposal batch, approved ones included), ``actor`` or ``use_case``
(optionally within ``since`` inclusive .. ``until`` exclusive, judged on the time the change was
written). Batch, actor and use-case selections take only governed writes (``write.result`` with
status ``ok``): rollbacks are never selected by them, so a bulk rollback never undoes an earlier
rollback; that takes ``--change ROLLBACK_ID``.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from crmgate.approvals.queue import reading
from crmgate.clock import parse_time
from crmgate.errors import CrmgateError, RollbackError
from crmgate.rollback.plan import ALL, Change
from crmgate.trail import Entry, TrailStore
from crmgate.trail.scan import row_to_entry
from crmgate.trail.schema import entries as _E

INTENT_KINDS = ("write.intent", "rollback.intent")
RESULT_KINDS = ("write.result", "write.reconciled", "rollback.result")  # reconciled: applied after all
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Selector:
    change: str | None = None
    batch: str | None = None
    actor: str | None = None
    use_case: str | None = None
    since: str | None = None
    until: str | None = None

    def checked(self) -> Selector:
        """Exactly one selector; ``since``/``until`` only with actor or use case, as trail timestamps."""
        given = [n for n in ("change", "batch", "actor", "use_case") if getattr(self, n)]
        if len(given) != 1:
            raise RollbackError("give exactly one of --change, --batch, --actor, --use-case"
                                + (f" (got {', '.join(given)})" if given else ""), code="bad_selector")
        if (self.since or self.until) and given[0] not in ("actor", "use_case"):
            raise RollbackError("--since/--until go with --actor or --use-case", code="bad_selector")
        try:
            since, until = parse_time(self.since, name="since"), parse_time(self.until, name="until")
        except CrmgateError as exc:  # keep rollback's own error type for its callers
            raise RollbackError(exc.message, code=exc.code) from None
        if since and until and since >= until:
            raise RollbackError(f"--since {self.since} is not before --until {self.until}", code="bad_selector")
        return Selector(self.change, self.batch, self.actor, self.use_case, since, until)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k)}


def select_changes(store: TrailStore, sel: Selector) -> list[Change]:
    """The applied changes ``sel`` names, oldest first. ``change`` refuses what cannot be undone."""
    if sel.change:
        return [load_change(store, sel.change)]
    cond = [_E.c.kind.in_(("write.result", "write.reconciled"))]
    if sel.batch:
        cond.append(_E.c.batch_id == sel.batch)
    if sel.actor:
        cond.append(_E.c.actor == sel.actor)
    if sel.use_case:
        cond.append(_E.c.use_case == sel.use_case)
    if sel.since:
        cond.append(_E.c.ts >= sel.since)
    if sel.until:
        cond.append(_E.c.ts < sel.until)
    results = {e.change_id: e for e in _select(store, cond) if e.data.get("status") == "ok" and e.change_id}
    intents: dict[str, Entry] = {}
    for chunk in _chunks(list(results)):
        for e in _select(store, [_E.c.kind == "write.intent", _E.c.change_id.in_(chunk)]):
            intents[e.change_id] = e  # type: ignore[index]
    out = [_change(intents[cid], res) for cid, res in results.items() if cid in intents]
    return sorted(out, key=lambda c: c.seq)


def unjudged(store: TrailStore, sel: Selector) -> list[str]:
    """Changes ``sel`` names whose effect is not known (``unknown``, or an intent without a result):
    a rollback cannot judge them, and must say so rather than report a clean run."""
    if sel.change:
        return []
    cond = [_E.c.kind == "write.intent"]
    for name in ("batch", "actor", "use_case"):
        value = getattr(sel, name)
        if value:
            cond.append(_E.c[f"{name}_id" if name == "batch" else name] == value)
    if sel.since:
        cond.append(_E.c.ts >= sel.since)
    if sel.until:
        cond.append(_E.c.ts < sel.until)
    intents = {e.change_id: e.seq for e in _select(store, cond) if e.change_id}
    last: dict[str, Entry] = {}
    for chunk in _chunks(list(intents)):
        for e in _select(store, [_E.c.kind.in_(("write.result", "write.reconciled")), _E.c.change_id.in_(chunk)]):
            last[e.change_id] = e  # type: ignore[index]
    return [cid for cid, seq in sorted(intents.items(), key=lambda kv: kv[1])
            if cid not in last or last[cid].seq < seq or last[cid].data.get("status") == "unknown"]


def load_change(store: TrailStore, change_id: str) -> Change:
    """One change by id, refusing unknown, never-applied and unresolved ones with a precise code."""
    entries = store.entries_for(change_id=change_id)
    if not entries:
        raise RollbackError(f"no change {change_id} in the trail", code="unknown_change")
    first_intent = next((e for e in entries if e.kind in INTENT_KINDS), None)
    result = next((e for e in reversed(entries) if e.kind in RESULT_KINDS), None)
    intent = first_intent  # a re-driven write repeats its intent; the first holds the before-values
    if intent is None:
        status = next((e.data.get("status") for e in entries if e.kind == "proposal.decided"), "?")
        if result is not None:
            status = result.data.get("status", status)
        raise RollbackError(f"change {change_id} was never written (status: {status})", code="not_applied")
    last_intent = next(e for e in reversed(entries) if e.kind in INTENT_KINDS)
    if result is None or result.seq < last_intent.seq:  # a newer attempt (a re-drive) is still unanswered
        raise RollbackError(f"change {change_id} has no recorded result: check the record in the "
                            "CRM before rolling back", code="unresolved_change")
    if result.data.get("status") != "ok":
        raise RollbackError(f"change {change_id} was not applied ({result.data.get('status')}); "
                            "there is nothing to roll back", code="not_applied")
    return _change(intent, result)


def done_fields(store: TrailStore, changes: Iterable[Change]) -> dict[str, set[str]]:
    """For each change, the fields earlier successful rollbacks undid (``ALL``: the whole change).

    A conflict a rollback left alone is not done, so a later ``--force`` can still take it. A
    rollback that was itself undone (rolled back with success) no longer counts.
    """
    wanted = {c.change_id for c in changes}
    proposals = sorted({c.proposal_id for c in changes if c.proposal_id})
    rb_entries: list[Entry] = []
    for chunk in _chunks(proposals):
        rb_entries += _select(store, [_E.c.kind.in_(("rollback.intent", "rollback.result")),
                                      _E.c.proposal_id.in_(chunk)])
    ok_results = {e.change_id for e in rb_entries if e.kind == "rollback.result" and e.data.get("status") == "ok"}
    undone = {e.data.get("reverts") for e in rb_entries if e.kind == "rollback.result"
              and e.data.get("status") == "ok"} & ok_results
    done: dict[str, set[str]] = {}
    for e in rb_entries:
        reverts = e.data.get("reverts")
        if e.kind != "rollback.intent" or reverts not in wanted or e.change_id not in ok_results:
            continue
        if e.change_id in undone:
            continue
        fields = done.setdefault(reverts, set())
        if e.op in ("create", "delete"):
            fields.add(ALL)
        fields.update(p["field"] for p in e.data.get("plan") or [] if p.get("action") != "conflict")
    return done


def _change(intent: Entry, result: Entry) -> Change:
    kind = "rollback" if intent.kind == "rollback.intent" else "write"
    return Change(
        change_id=intent.change_id or "", proposal_id=intent.proposal_id, kind=kind,
        object=intent.object or "", op=intent.op or "",
        record_id=result.data.get("record_id") or intent.record_id or "", actor=intent.actor,
        use_case=intent.use_case, changes=tuple(intent.data.get("changes") or ()), seq=result.seq,
        ts=result.ts)


def _select(store: TrailStore, cond: list[Any]) -> list[Entry]:
    with reading(store.engine) as conn:
        return [row_to_entry(r) for r in conn.execute(sa.select(_E).where(*cond).order_by(_E.c.seq))]


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]
