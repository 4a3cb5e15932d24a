"""The HTTP API's request and response bodies: what the OpenAPI document promises."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

OutcomeStatus = Literal["applied", "queued", "rejected", "shadowed", "failed", "conflict", "unknown", "in_progress"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class ProposalIn(_In):
    """One proposed change. ``actor`` may be left out: it is the credential's actor (naming
    another one is refused)."""

    object: str = Field(min_length=1, max_length=80, examples=["Lead"])
    op: Literal["create", "update", "delete"]
    record_id: str | None = Field(default=None, min_length=1, max_length=64)
    fields: dict[str, Any] = Field(default_factory=dict, examples=[{"Rating": "Hot"}])
    actor: str | None = Field(default=None, min_length=1, max_length=200)
    use_case: str | None = Field(default=None, min_length=1, max_length=120)
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    reasons: list[str] = Field(default_factory=list)
    inputs: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class ProposalsIn(_In):
    proposals: list[ProposalIn] = Field(min_length=1)
    #: told how each queued change of this request is resolved (a host in notify.callback_hosts)
    callback_url: str | None = Field(default=None, max_length=2048)


class Violation(_Out):
    code: str
    object: str
    field: str | None = None
    message: str
    fix: str | None = None


class FieldChange(_Out):
    field: str
    before: Any = None
    after: Any = None


class _Decided(_Out):
    """What the rules decided for one proposal (shared by outcomes and checks)."""

    status: OutcomeStatus
    object: str
    op: str
    actor: str
    record_id: str | None = None
    use_case: str | None = None
    rule: str | None = None
    tier: str | None = None
    reason: str = ""
    violations: list[Violation] = Field(default_factory=list)
    changes: list[FieldChange] = Field(default_factory=list)
    would: str | None = None
    error: dict[str, Any] | None = None
    replayed: bool = False


class Outcome(_Decided):
    proposal_id: str
    change_id: str | None = None
    batch_id: str


class Outcomes(_Out):
    outcomes: list[Outcome]


class Check(_Decided):
    dry_run: Literal[True] = True


class Checks(_Out):
    checks: list[Check]


class TrailEntry(_Out):
    seq: int
    ts: str
    kind: str
    proposal_id: str | None = None
    batch_id: str | None = None
    change_id: str | None = None
    actor: str | None = None
    use_case: str | None = None
    object: str | None = None
    record_id: str | None = None
    op: str | None = None
    data: dict[str, Any]
    prev_hash: str
    hash: str


class ChangeView(_Out):
    """Where a proposal (and its change) stands now, with every trail entry about it."""

    proposal_id: str
    change_id: str | None = None
    status: str | None = None
    object: str | None = None
    op: str | None = None
    record_id: str | None = None
    actor: str | None = None
    use_case: str | None = None
    entries: list[TrailEntry]


class RecordOut(_Out):
    object: str
    id: str
    version: str
    fields: dict[str, Any]
    meta: dict[str, Any] = Field(default_factory=dict)


class QueuedChange(_Out):
    change_id: str
    proposal_id: str
    status: str
    object: str
    op: str
    record_id: str | None = None
    actor: str
    use_case: str | None = None
    tier: str | None = None
    changes: list[FieldChange] = Field(default_factory=list)
    queued_at: str
    expires_at: str


class QueuedChanges(_Out):
    approvals: list[QueuedChange]


class ApproveIn(_In):
    note: str | None = Field(default=None, max_length=2000)
    edits: dict[str, Any] = Field(default_factory=dict, description="Field values replacing the AI's")


class RequeueIn(_In):
    note: str | None = Field(default=None, max_length=2000)


class RejectIn(_In):
    reason: str = Field(min_length=1, max_length=2000)


class ApprovalResult(_Out):
    approval_id: str
    change_id: str
    proposal_id: str
    status: str
    object: str
    op: str
    record_id: str | None = None
    by: str
    message: str = ""
    recheck: dict[str, Any] | None = Field(default=None, description=(
        "The re-check before writing: `result` current or stale, `check` (record, fields or rules) "
        "that made it stale, and per field the value at queueing, now and proposed"))


class Requeued(QueuedChange):
    requeued_from: str
    requeued_by: str
    message: str = ""


class RollbackIn(_In):
    """Exactly one selector: ``change``, ``batch``, ``actor`` or ``use_case`` (the last two with an
    optional ``since`` inclusive / ``until`` exclusive, ISO-8601)."""

    change: str | None = Field(default=None, min_length=1, max_length=64)
    batch: str | None = Field(default=None, min_length=1, max_length=64)
    actor: str | None = Field(default=None, min_length=1, max_length=200)
    use_case: str | None = Field(default=None, min_length=1, max_length=120)
    since: str | None = Field(default=None, max_length=40)
    until: str | None = Field(default=None, max_length=40)
    dry_run: bool = False
    force: bool = False
    reconcile_first: bool = False


class ReconcileIn(_In):
    """Judge every unknown write, and every intent without a result older than ``older_than`` seconds."""

    older_than: float = Field(default=0.0, ge=0, le=10 ** 9)
    dry_run: bool = False


class RollbackOut(_Out):
    selector: dict[str, Any]
    dry_run: bool
    force: bool
    batch_id: str | None = None
    summary: dict[str, int]
    changes: list[dict[str, Any]]
    #: selected changes whose outcome is unknown or unresolved: not judged, not rolled back
    unjudged: list[str] = []
    warning: str | None = None


class ExportIn(_In):
    format: Literal["jsonl", "csv"] = "jsonl"
    since: str | None = Field(default=None, max_length=40)
    until: str | None = Field(default=None, max_length=40)
    actor: str | None = Field(default=None, min_length=1, max_length=200)
    use_case: str | None = Field(default=None, min_length=1, max_length=120)
    object: str | None = Field(default=None, min_length=1, max_length=80)
    record_id: str | None = Field(default=None, min_length=1, max_length=64)


class Whoami(_Out):
    credential_id: str
    actor: str
    scopes: list[str]
    rate_limit: int


class Health(_Out):
    status: Literal["ok"]
    version: str


class ErrorDetail(_Out):
    code: str = Field(description="Stable, machine-readable")
    message: str
    details: Any = None


class Error(_Out):
    error: ErrorDetail
