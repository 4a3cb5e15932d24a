"""The approval queue: changes the rules held for a person, and who may decide them.

Queued rows live in ``crmgate_approvals``. A row's status moves ``pending`` -> ``approving`` (claimed
by one approver, in the same transaction as the ``approval.approved`` entry) -> ``approved``,
``conflict`` or ``failed`` (the CRM's answer), or ``pending`` -> ``stale`` (the re-check found a
field it writes changed, or the rules now refuse it; see :mod:`crmgate.approvals.recheck`) ->
``requeued`` (decided again as a new pending change), or ``pending`` -> ``rejected``. A pending row past its
``expires_at`` reads as ``expired``: expiry is judged at read time against the injected clock, so
nothing has to sweep. A row left in ``approving`` means the process died between the approval's
intent and its result: the trail shows a ``write.intent`` without a ``write.result``; check the
record before doing anything else.

Separation of duties (:func:`check_approver`): the proposing actor never decides its own change;
an ``ai:`` actor never decides; the rulebook may name who may (fnmatch globs): ``risk.approvers``
per tier first, then ``use_cases.<name>.approvers``; with neither, anyone else may.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import sqlalchemy as sa

from crmgate import tables
from crmgate.actors import is_ai
from crmgate.clock import Clock, iso
from crmgate.errors import ApprovalError
from crmgate.trail.engine import BEGIN_OPTION, is_sqlite

STATUSES = ("pending", "approving", "approved", "stale", "requeued", "conflict", "failed", "rejected",
            "expired")


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
    #: the duplicate guard's match (rule, candidates, scores) when one held this change
    duplicates: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@contextmanager
def reading(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A read-only connection; on SQLite a deferred transaction, so reads never take the write lock."""
    with engine.connect() as conn:
        if is_sqlite(engine):
            conn = conn.execution_options(**{BEGIN_OPTION: "DEFERRED"})
        with conn.begin():
            yield conn


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
    with reading(engine) as conn:
        rows = conn.execute(q).mappings().all()
    return [_from_row(r, now) for r in rows]


def get_queued(engine: sa.Engine, clock: Clock, change_id: str) -> QueuedChange:
    """The queued change ``change_id``; :class:`ApprovalError` ``unknown_approval`` if there is none."""
    t = tables.approvals
    with reading(engine) as conn:
        row = conn.execute(sa.select(t).where(t.c.change_id == change_id)).mappings().first()
    if row is None:
        raise ApprovalError(f"no queued change {change_id}", code="unknown_approval",
                            details={"change_id": change_id})
    return _from_row(row, iso(clock()))


def check_open(q: QueuedChange, *, allow_expired: bool = False) -> None:
    """Refuse a decision on a change that is no longer waiting (``not_pending``, ``approval_expired``)."""
    if q.status == "expired" and not allow_expired:
        raise ApprovalError(f"change {q.change_id} expired at {q.expires_at}; it can no longer be "
                            "approved (the workflow must propose it again)", code="approval_expired",
                            details={"change_id": q.change_id, "expires_at": q.expires_at})
    if q.status in ("stale", "conflict"):
        raise ApprovalError(f"change {q.change_id} is {q.status}: the record moved since it was queued; "
                            f"requeue it to decide it again on the record now (crmgate approvals requeue "
                            f"{q.change_id}), or leave it", code="not_pending",
                            details={"change_id": q.change_id, "status": q.status, "decided_by": q.decided_by})
    if q.status not in ("pending", "expired"):
        raise ApprovalError(f"change {q.change_id} is {q.status}, not pending", code="not_pending",
                            details={"change_id": q.change_id, "status": q.status,
                                     "decided_by": q.decided_by})


def allowed_approvers(rulebook: Any, tier: str | None, use_case: str | None) -> tuple[str | None, list[str]]:
    """``(where, globs)``: the rulebook's approvers for this tier, else this use case; ``(None, [])``
    when the rulebook names none (then anyone not an AI and not the proposer may decide)."""
    risk = getattr(rulebook, "risk", None)
    by_tier = (getattr(risk, "approvers", None) or {}) if risk is not None else {}
    if tier and by_tier.get(tier):
        return f"risk.approvers.{tier}", list(by_tier[tier])
    uc = (getattr(rulebook, "use_cases", None) or {}).get(use_case or "")
    if uc is not None and uc.approvers:
        return f"use_cases.{use_case}.approvers", list(uc.approvers)
    return None, []


def check_approver(rulebook: Any, q: QueuedChange, by: str) -> None:
    """Separation of duties; raises :class:`ApprovalError` naming the rule that refuses ``by``."""
    name = (by or "").strip()
    details = {"change_id": q.change_id, "by": by}
    if not name:
        raise ApprovalError("an approver's name is required (--by NAME)", code="approver_missing",
                            details=details)
    if name == q.actor.strip():
        raise ApprovalError(f"{name} proposed change {q.change_id}; the proposer never decides its "
                            "own change", code="approver_is_proposer", details=details)
    if is_ai(name):
        raise ApprovalError(f"{name} is an AI actor; only a person may approve or reject a change",
                            code="approver_is_ai", details=details)
    where, globs = allowed_approvers(rulebook, q.tier, q.use_case)
    if globs and not any(fnmatchcase(name, g) for g in globs):
        raise ApprovalError(f"{name} may not decide this change: {where} allows {', '.join(globs)}",
                            code="approver_not_allowed", details={**details, "rule": where, "allowed": globs})


def claim(conn: sa.Connection, change_id: str, *, to: str, by: str, at: str, note: str | None,
          unexpired_at: str | None) -> None:
    """Move a pending row to ``to`` atomically: exactly one concurrent caller wins; the others get
    ``not_pending`` (their transaction, and so their trail entries, roll back).

    ``unexpired_at``: also require ``expires_at > unexpired_at`` (approvals; rejections may decide
    an expired change).
    """
    t = tables.approvals
    cond = [t.c.change_id == change_id, t.c.status == "pending"]
    if unexpired_at is not None:
        cond.append(t.c.expires_at > unexpired_at)
    n = conn.execute(sa.update(t).where(*cond).values(status=to, decided_by=by, decided_at=at,
                                                      note=note)).rowcount
    if n != 1:
        raise ApprovalError(f"change {change_id} is no longer pending (decided by someone else, or "
                            "expired)", code="not_pending", details={"change_id": change_id})


def settle(conn: sa.Connection, change_id: str, status: str) -> None:
    """Move a claimed (``approving``) row to its final status."""
    t = tables.approvals
    conn.execute(sa.update(t).where(t.c.change_id == change_id, t.c.status == "approving")
                 .values(status=status))


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
