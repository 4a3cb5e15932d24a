"""Checking proposals without writing: what :meth:`Gate.propose` would do now, and why.

A check reads what a proposal would read (before-images, one ``get_many`` per object; routing
pool state; the enrichment provider, which is called like for a real proposal) and decides with
the same :func:`crmgate.decide.governance.govern`, but writes nothing: no trail entry, no queue row, no
pool advance, no idempotency row, no CRM write.

What a check cannot know: whether the CRM will accept the write (it may still fail or conflict),
and what a person edits before the proposal is really sent. Proposals for one record in one check
are each judged against the record as it is now, not as the earlier ones would leave it.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from crmgate import tables
from crmgate.adapters.base import Adapter
from crmgate.decide import pools
from crmgate.decide.enrichment import Enricher
from crmgate.decide.governance import govern, pool_keys
from crmgate.rules.decision import FieldChange
from crmgate.rules.proposal import Proposal
from crmgate.rules.schema import Rulebook
from crmgate.rules.violations import Violation
from crmgate.trail import TrailStore
from crmgate.writes.before_images import read_before_images
from crmgate.writes.duplicates import BatchGuard
from crmgate.writes.outcome import Status

_STATUS_OF_ACTION = {"apply": "applied", "queue": "queued", "reject": "rejected", "shadow": "shadowed"}


@dataclass(frozen=True, slots=True)
class Check:
    """What proposing would give now. ``status`` uses the outcome vocabulary (``applied``,
    ``queued``, ``rejected``, ``shadowed``, or ``failed`` when the before-image cannot be read);
    ``replayed`` means the idempotency key was used before and ``status`` is that first outcome's."""

    status: Status
    object: str
    op: str
    actor: str
    record_id: str | None = None
    use_case: str | None = None
    rule: str | None = None
    tier: str | None = None
    reason: str = ""
    violations: tuple[Violation, ...] = ()
    changes: tuple[FieldChange, ...] = ()
    would: str | None = None
    error: dict[str, Any] | None = None
    replayed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dry_run": True, "status": self.status, "object": self.object, "op": self.op,
            "actor": self.actor, "record_id": self.record_id, "use_case": self.use_case,
            "rule": self.rule, "tier": self.tier, "reason": self.reason,
            "violations": [v.to_dict() for v in self.violations],
            "changes": [c.to_dict() for c in self.changes],
        }
        for key in ("would", "error"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.replayed:
            out["replayed"] = True
        out.update(self.extra)
        return out


class Checker:
    """Decides proposals like the write path, against the same collaborators, and writes nothing."""

    def __init__(self, *, rulebook: Rulebook, adapter: Adapter, store: TrailStore,
                 enricher: Enricher | None, crm_objects: Collection[str]) -> None:
        self.rulebook, self.adapter, self.store, self.enricher = rulebook, adapter, store, enricher
        self.crm_objects = crm_objects

    def run(self, proposals: Sequence[Proposal]) -> list[Check]:
        keyed = {p.idempotency_key for p in proposals if p.idempotency_key}
        with self.store.engine.connect() as conn:
            seen = tables.stored_outcomes(conn, keyed) if keyed else {}
        found, errors = read_before_images(self.adapter, self.rulebook, self.crm_objects,
                                           (p for p in proposals if p.idempotency_key not in seen))
        guard = BatchGuard.prepare(self.adapter, self.rulebook, self.crm_objects,
                                   [p for p in proposals if p.idempotency_key not in seen])
        keys = pool_keys(self.rulebook, list(proposals)) if self.rulebook.routing else set()
        with self.store.engine.connect() as conn:
            states = pools.load(conn, keys)
        out: list[Check] = []
        for n, p in enumerate(proposals):
            if p.idempotency_key in seen and seen[p.idempotency_key].get("actor") != p.actor:
                out.append(Check(status="failed", object=p.object, op=p.op.value, actor=p.actor,
                                 record_id=p.record_id, reason="another actor already used this idempotency key",
                                 error={"code": "idempotency_key_in_use",
                                        "message": "another actor already used this idempotency key; "
                                                   "proposing would decide and write nothing"}))
                continue
            if p.idempotency_key in seen:
                first = seen[p.idempotency_key]
                out.append(Check(status=first["status"], object=p.object, op=p.op.value, actor=p.actor,
                                 record_id=first.get("record_id") or p.record_id, replayed=True,
                                 reason=f"idempotency key {p.idempotency_key!r} was used before by proposal "
                                        f"{first.get('proposal_id')}: proposing again returns that outcome "
                                        "and does nothing"))
                continue
            if p.object in errors or guard.error(p) is not None:
                err = errors.get(p.object) or guard.error(p)
                out.append(Check(status="failed", object=p.object, op=p.op.value, actor=p.actor,
                                 record_id=p.record_id, error=err.to_record_error().to_dict(),
                                 reason="the before-image could not be read" if p.object in errors
                                 else "the duplicate candidates could not be read"))
                continue
            before = found.get((p.object, p.record_id)) if p.record_id else None
            current = dict(before.fields) if before is not None else None
            enrichment = (self.enricher.enrich(p.object, p.op.value, p.fields, current)
                          if self.enricher is not None else None)
            dup, p, merge_into = guard.screen(p)  # a match previews its rule and candidates
            if merge_into is not None:
                current = dict(merge_into.fields)
            g = govern(p, current, self.rulebook, enrichment, states, dup)
            guard.remember(p, f"check-{n}", g.decision.action)
            states.update(g.pool_changes)  # later proposals of the check see the pool advanced
            d = g.decision
            out.append(Check(status=_STATUS_OF_ACTION[d.action], object=p.object, op=p.op.value,  # type: ignore[arg-type]
                             actor=p.actor, record_id=p.record_id, use_case=d.use_case, rule=d.rule,
                             tier=d.tier, reason=d.reason, violations=d.violations, changes=d.changes,
                             would=d.would, extra=g.trace()))
        return out

