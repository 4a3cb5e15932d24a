"""Typed outcomes returned to the caller for every proposal, whatever happened to it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from crmgate.rules.decision import FieldChange
from crmgate.rules.violations import Violation

Status = Literal["applied", "queued", "rejected", "shadowed", "failed", "conflict", "unknown", "in_progress"]
STATUSES: tuple[str, ...] = ("applied", "queued", "rejected", "shadowed", "failed", "conflict", "unknown",
                             "in_progress")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one proposal.

    ``change_id`` is set whenever a change was recorded for writing (applied, queued, failed,
    conflict); ``rule`` names the rule that decided; ``error`` carries the CRM's code and message
    for ``failed`` and ``conflict``; ``would`` is what enforce mode would have done (shadow only);
    ``replayed`` is true when an earlier outcome was returned for a repeated idempotency key.

    ``failed`` means the CRM certainly did not apply the write. ``unknown``: the write was sent and
    nobody can know whether it landed (a lost connection, a 5xx after sending); ``crmgate
    reconcile`` finds out. ``in_progress``: a repeat of an idempotency key whose first attempt is
    still running. For both, ask again with the SAME key; a new key could write twice.
    """

    status: Status
    proposal_id: str
    batch_id: str
    object: str
    op: str
    actor: str
    record_id: str | None = None
    change_id: str | None = None
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
            "status": self.status,
            "proposal_id": self.proposal_id,
            "change_id": self.change_id,
            "record_id": self.record_id,
            "object": self.object,
            "op": self.op,
            "actor": self.actor,
            "use_case": self.use_case,
            "rule": self.rule,
            "tier": self.tier,
            "reason": self.reason,
            "violations": [v.to_dict() for v in self.violations],
            "changes": [c.to_dict() for c in self.changes],
            "batch_id": self.batch_id,
        }
        if self.would is not None:
            out["would"] = self.would
        if self.error is not None:
            out["error"] = self.error
        if self.replayed:
            out["replayed"] = True
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Outcome":
        known = {"status", "proposal_id", "batch_id", "object", "op", "actor", "record_id",
                 "change_id", "use_case", "rule", "tier", "reason", "would", "error", "replayed"}
        return cls(
            **{k: data.get(k) for k in known if k in data},
            violations=tuple(Violation(**v) for v in data.get("violations", [])),
            changes=tuple(FieldChange(**c) for c in data.get("changes", [])),
            extra={k: v for k, v in data.items() if k not in known | {"violations", "changes"}},
        )
