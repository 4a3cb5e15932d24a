"""The approval queue: changes the rules held for a person.

Queued rows live in ``crmgate_approvals``; a pending row past its ``expires_at`` reads as
``expired`` (expiry is judged at read time against the injected clock, so nothing has to sweep).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from connector import tables
from connector.clock import Clock, iso

STATUSES = ("pending", "approved", "rejected", "expired")


@dataclass(frozen=True, slots=True)
class QueuedChange:
    change_id: str
    proposal_id: str
    status: str
    object: str
    op: str
    record_id: str | None
    actor: str
    use_case: str | None
    tier: str | None
    rule: str | None
    reason: str | None
    changes: list[dict[str, Any]]
    proposal: dict[str, Any]
    base_version: str | None
    queued_at: str
    expires_at: str
    decided_by: str | None = None
    decided_at: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def list_queue(engine: sa.Engine, clock: Clock, *, status: str | None = None,
               use_case: str | None = None, limit: int | None = None) -> list[QueuedChange]:
    """Queued changes, oldest first, filtered by effective status (``expired`` included)."""
    t = tables.approvals
    now = iso(clock())
    q = sa.select(t).order_by(t.c.queued_at, t.c.change_id)
    if use_case:
        q = q.where(t.c.use_case == use_case)
    if status == "expired":
        q = q.where(t.c.status == "pending", t.c.expires_at <= now)
    elif status == "pending":
        q = q.where(t.c.status == "pending", t.c.expires_at > now)
    elif status:
        q = q.where(t.c.status == status)
    if limit:
        q = q.limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
    return [_from_row(r, now) for r in rows]


def _from_row(r: Any, now: str) -> QueuedChange:
    status = r["status"]
    if status == "pending" and r["expires_at"] <= now:
        status = "expired"
    return QueuedChange(
        change_id=r["change_id"], proposal_id=r["proposal_id"], status=status, object=r["object"],
        op=r["op"], record_id=r["record_id"], actor=r["actor"], use_case=r["use_case"],
        tier=r["tier"], rule=r["rule"], reason=r["reason"], changes=json.loads(r["changes"]),
        proposal=json.loads(r["proposal"]), base_version=r["base_version"],
        queued_at=r["queued_at"], expires_at=r["expires_at"], decided_by=r["decided_by"],
        decided_at=r["decided_at"], note=r["note"],
    )
