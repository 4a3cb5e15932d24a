"""The operations crmgate offers over the network, each checked against the caller's credential.

The HTTP API (:mod:`crmgate.doors.api`) and the MCP server (:mod:`crmgate.doors.mcp.server`) are thin
layers over :class:`Service`; every rule about who may do what lives here, once:

* :meth:`Service.admit` turns a bearer token into a :class:`Credential` (401 when unknown or
  revoked) and spends one request of its limit (429 past it). Refusals are logged with the
  credential id, never the token.
* A proposal is made *as the credential's actor*: a missing ``actor`` is filled in; another actor
  is refused (403 ``actor_mismatch``) and nothing of the request is decided or written. An
  idempotency key another actor already used is refused too (409), so one agent cannot read
  another's outcome by guessing its key.
* ``read`` shows records, and the changes and proposals of the credential's own actor; an admin
  credential (``approve``, ``rollback`` or ``export``) reads every change. Someone else's change
  is reported as not found, never as forbidden, so ids cannot be probed.
* Approvals and rollbacks are made *by* the credential's actor; ``ai:`` actors never hold those
  scopes (see :mod:`crmgate.doors.credentials`), and separation of duties still applies.

After a change is queued, approved, rejected or rolled back, :attr:`Service.events` (if set) is told
(``events(kind, change)``), so the console's webhooks fire whichever door made the change; a
failing sink is logged and never fails the call.

No lock of this process serialises calls: the trail store, the write path and the adapters are
safe for concurrent callers (threads here, or the worker processes of ``crmgate serve --workers N``,
which share the request quotas through the gate's budget), and on PostgreSQL unrelated proposals do
not wait for each other. SQLite lets one writer in at a time whatever we do; its engine queues this
process's writers for the length of a write transaction only (see :mod:`crmgate.trail.engine`).
"""
from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog

from crmgate import tables
from crmgate.adapters.base import Record
from crmgate.approvals.queue import STATUSES as APPROVAL_STATUSES
from crmgate.approvals.resolve import ApprovalResult
from crmgate.audit.export import ExportFilters, export_trail, sidecar_paths
from crmgate.audit.status import change_entries, proposal_entries, summarize
from crmgate.clock import parse_time
from crmgate.doors.boundaries import fixes_on_refusal
from crmgate.doors.credentials import AccessError, Credential, Credentials, credential_id_of
from crmgate.doors.quota import Admission, RequestLimiter
from crmgate.errors import ApprovalError, CrmgateError, ProposalError
from crmgate.gate import Gate
from crmgate.rollback.run import BulkRollbackReport, Progress
from crmgate.trail import Entry, TrailSigner
from crmgate.writes.check import Check
from crmgate.writes.intake import coerce
from crmgate.writes.outcome import Outcome
from crmgate.writes.reconcile import ReconcileReport

log = structlog.get_logger("crmgate.access")

DEFAULT_MAX_PROPOSALS = 1000
DEFAULT_FAILED_AUTH_LIMIT = 30  # unknown or revoked tokens per client per rate window
#: ``events(kind, change)``: kind is queued, approved, rejected, conflict or rolled_back
EventSink = Callable[[str, Mapping[str, Any]], None]
_EVENT_KEYS = ("change_id", "proposal_id", "object", "op", "record_id", "actor", "use_case", "tier", "rule",
               "reason")


class NotFound(CrmgateError):
    code = "not_found"


@contextmanager
def _logging_refusal(cred: Credential) -> Iterator[None]:
    """Log a separation-of-duties refusal like every other refusal of who is calling."""
    try:
        yield
    except ApprovalError as exc:
        if exc.code.startswith("approver_"):
            log.warning("access.refused", code=exc.code, credential_id=cred.id, actor=cred.actor)
        raise


class Service:
    """Credential-checked operations over one :class:`Gate` (see the module docstring)."""

    def __init__(self, gate: Gate, *, credentials: Credentials, limiter: RequestLimiter,
                 signer: TrailSigner | None = None, max_proposals: int = DEFAULT_MAX_PROPOSALS,
                 failed_auth_limit: int = DEFAULT_FAILED_AUTH_LIMIT, events: EventSink | None = None) -> None:
        self.gate, self.credentials, self.limiter, self.signer = gate, credentials, limiter, signer
        self.max_proposals, self.failed_auth_limit = max_proposals, failed_auth_limit
        self.events = events
        #: hosts a proposal's callback_url may name (``notify.callback_hosts``; set with the notifier)
        self.callback_hosts: frozenset[str] = frozenset()

    def _emit(self, kind: str, change: Mapping[str, Any] | Callable[[], Mapping[str, Any]]) -> None:
        """Tell ``events`` (if set); ``change`` may be a callable, so nothing is read without a sink."""
        if self.events is None:
            return
        try:
            self.events(kind, change() if callable(change) else change)
        except Exception:  # noqa: BLE001 - a notification never fails the write it reports
            log.exception("notify.emit_failed", kind=kind)

    # -- who is calling -------------------------------------------------------------------------
    def admit(self, token: str | None, *, action: str, client: str | None = None) -> tuple[Credential, Admission]:
        """The caller's credential, with one request of its limit spent; :class:`AccessError` otherwise.

        Failed attempts are limited too, per ``client`` (the peer address; one bucket for stdio):
        past ``failed_auth_limit`` unknown or revoked tokens, a client's further unknown tokens get
        429, so tokens cannot be guessed at speed. A VALID token is never refused for what other
        tokens did from the same address (a NAT, a proxy): it is only held to its own limit. A
        token that is not even well-formed is refused without a lookup while the address is throttled."""
        try:
            cred = self.credentials.authenticate(token)  # no lookup for a token that is not well-formed
        except AccessError as exc:
            # only failures touch the client's window (a valid token costs one budget call: its own);
            # a failure past the limit is refused with 429 and spends nothing
            wait = self.limiter.take(f"unauthenticated:{client or '-'}", self.failed_auth_limit)
            if not wait.allowed:
                log.warning("access.refused", code="rate_limited", action=action, client=client,
                            reason="failed_auth", credential_id=credential_id_of(token))
                raise AccessError(f"too many requests with unknown tokens from {client or 'this client'}; "
                                  f"retry in {wait.retry_after:.1f} s", code="rate_limited", status=429,
                                  details={"retry_after": wait.retry_after}, headers=wait.headers()) from None
            log.warning("access.refused", code=exc.code, action=action, client=client,
                        credential_id=credential_id_of(token))
            raise
        admission = self.limiter.take(cred.id, cred.rate_limit)
        if not admission.allowed:
            log.warning("access.refused", code="rate_limited", action=action, credential_id=cred.id,
                        actor=cred.actor)
            raise AccessError(f"credential {cred.id} is over its limit of {admission.limit} requests per "
                              f"{self.limiter.per_seconds:g} s; retry in {admission.retry_after:.1f} s",
                              code="rate_limited", status=429,
                              details={"limit": admission.limit, "retry_after": admission.retry_after},
                              headers=admission.headers())
        return cred, admission

    def require(self, cred: Credential, scope: str, *, action: str) -> None:
        if scope not in cred.scopes:
            log.warning("access.refused", code="missing_scope", action=action, credential_id=cred.id,
                        actor=cred.actor, scope=scope)
            raise AccessError(f"credential {cred.id} ({cred.actor}) lacks the {scope!r} scope needed to {action}",
                              code="missing_scope", status=403,
                              details={"needed": scope, "held": sorted(cred.scopes)})

    # -- proposing ------------------------------------------------------------------------------
    def propose(self, cred: Credential, items: Sequence[Mapping[str, Any]], *,
                callback_url: str | None = None) -> list[Outcome]:
        """Decide and write proposals as ``cred.actor``; see :meth:`Gate.propose`. ``callback_url``
        (to a host in ``notify.callback_hosts``) hears how each queued change is resolved."""
        self.require(cred, "propose", action="propose changes")
        if callback_url is not None:
            self._check_callback(cred, callback_url)
        proposals = self._as_actor(cred, items, action="propose changes")
        self._check_keys(cred, proposals)
        outcomes = self.gate.propose(proposals)
        for o in outcomes if self.events is not None else ():
            if o.status == "queued" and not o.replayed:
                self._emit("queued", {**{k: getattr(o, k) for k in _EVENT_KEYS}, "callback_url": callback_url})
        return outcomes

    def _check_callback(self, cred: Credential, url: str) -> None:
        """Refuse (403, nothing decided) a callback to a host the config does not allow."""
        parts = urlsplit(url)
        allowed = {h.lower() for h in self.callback_hosts}
        try:
            port = parts.port  # a port out of range is a ValueError: refused below
            host = (parts.hostname or "").lower()
            if (parts.scheme in ("http", "https") and host and "@" not in parts.netloc
                    and (host in allowed or f"{host}:{port}" in allowed)):
                return
        except ValueError:
            pass
        log.warning("access.refused", code="callback_not_allowed", credential_id=cred.id, actor=cred.actor)
        raise AccessError(f"callback_url must be http(s) to a host in notify.callback_hosts "
                          f"({', '.join(sorted(allowed)) or 'none configured'})", code="callback_not_allowed",
                          status=403, details={"allowed_hosts": sorted(allowed)})

    def check(self, cred: Credential, items: Sequence[Mapping[str, Any]]) -> list[Check]:
        """What proposing would do now, writing nothing; see :meth:`Gate.check`."""
        self.require(cred, "propose", action="check changes")
        proposals = self._as_actor(cred, items, action="check changes")
        self._check_keys(cred, proposals)
        return self.gate.check(proposals)

    def _as_actor(self, cred: Credential, items: Sequence[Mapping[str, Any]], *, action: str) -> list[Any]:
        if not items:
            raise ProposalError("no proposal given: the list is empty")
        if len(items) > self.max_proposals:
            raise ProposalError(f"{len(items)} proposals in one request; at most {self.max_proposals}",
                                code="too_many_proposals", details={"max": self.max_proposals})
        filled = []
        for i, item in enumerate(items):
            claimed = item.get("actor") if isinstance(item, Mapping) else None
            if claimed is not None and claimed != cred.actor:
                log.warning("access.refused", code="actor_mismatch", action=action, credential_id=cred.id,
                            actor=cred.actor, claimed=str(claimed)[:200])
                raise AccessError(f"proposal {i} names actor {claimed!r}, but this credential acts as "
                                  f"{cred.actor!r}: a credential proposes only as its own actor",
                                  code="actor_mismatch", status=403,
                                  details={"index": i, "actor": cred.actor, "claimed": claimed})
            filled.append({**item, "actor": cred.actor} if isinstance(item, Mapping) else item)
        return coerce(filled)

    def _check_keys(self, cred: Credential, proposals: Sequence[Any]) -> None:
        keys = {p.idempotency_key for p in proposals if p.idempotency_key}
        if not keys:
            return
        with self.gate.store.engine.connect() as conn:
            used = tables.stored_outcomes(conn, keys)
        for key, outcome in used.items():
            if outcome.get("actor") != cred.actor:
                log.warning("access.refused", code="idempotency_key_in_use", credential_id=cred.id,
                            actor=cred.actor)
                raise AccessError(f"idempotency key {key!r} was already used by another actor; "
                                  "choose keys unique to this workflow", code="idempotency_key_in_use",
                                  status=409, details={"idempotency_key": key})

    # -- reading --------------------------------------------------------------------------------
    def change(self, cred: Credential, change_id: str) -> dict[str, Any]:
        """A change's current state and its trail entries (the whole proposal's, in seq order)."""
        self.require(cred, "read", action="read changes")
        return self._view(cred, change_entries(self.gate.store, change_id), f"no change {change_id}")

    def proposal(self, cred: Credential, proposal_id: str) -> dict[str, Any]:
        """A proposal's current state and its trail entries."""
        self.require(cred, "read", action="read proposals")
        return self._view(cred, proposal_entries(self.gate.store, proposal_id), f"no proposal {proposal_id}")

    def _view(self, cred: Credential, entries: list[Entry], missing: str) -> dict[str, Any]:
        decided = next((e for e in entries if e.kind == "proposal.decided"), None)
        if decided is not None and not (cred.admin or decided.actor == cred.actor):
            log.warning("access.refused", code="not_own_change", credential_id=cred.id, actor=cred.actor)
            decided = None
        if decided is None:
            raise NotFound(missing + " (or not one this credential may read)")
        return {**summarize(entries), "entries": [e.to_dict() for e in entries]}

    def record(self, cred: Credential, object_name: str, record_id: str) -> Record:
        """One record of an object the rulebook governs, as the CRM holds it now."""
        self.require(cred, "read", action="read records")
        if object_name not in self.gate.rulebook.objects:
            raise NotFound(f"{object_name} is not an object the rulebook governs "
                           f"({', '.join(self.gate.rulebook.objects)})", code="unknown_object")
        rec = self.gate.record(object_name, record_id)
        if rec is None:
            raise NotFound(f"no {object_name} {record_id}", code="record_not_found")
        return rec

    # -- people ---------------------------------------------------------------------------------
    def approvals(self, cred: Credential, *, status: str | None = None,
                  use_case: str | None = None) -> list[dict[str, Any]]:
        self.require(cred, "approve", action="list queued changes")
        if status is not None and status not in APPROVAL_STATUSES:
            raise CrmgateError(f"unknown status {status!r} (known: {', '.join(APPROVAL_STATUSES)})",
                               code="invalid_status")
        return [q.to_dict() for q in self.gate.approvals(status=status, use_case=use_case)]

    def show_approval(self, cred: Credential, change_id: str) -> dict[str, Any]:
        self.require(cred, "approve", action="read queued changes")
        return self.gate.show_approval(change_id)

    def approve(self, cred: Credential, change_id: str, *, note: str | None = None,
                edits: Mapping[str, Any] | None = None) -> ApprovalResult:
        self.require(cred, "approve", action="approve changes")
        with _logging_refusal(cred), fixes_on_refusal(self.gate.rulebook):
            result = self.gate.approve(change_id, by=cred.actor, note=note, edits=edits)
        if result.status in ("applied", "conflict", "stale"):
            self._emit("approved" if result.status == "applied" else "conflict", lambda: self._resolved(result))
        return result

    def requeue(self, cred: Credential, change_id: str, *, note: str | None = None) -> dict[str, Any]:
        """Decide a stale change again on the record now, as a new queued change (scope ``approve``)."""
        self.require(cred, "approve", action="requeue changes")
        with _logging_refusal(cred), fixes_on_refusal(self.gate.rulebook):
            return self.gate.requeue(change_id, by=cred.actor, note=note)

    def reject(self, cred: Credential, change_id: str, *, reason: str) -> ApprovalResult:
        self.require(cred, "approve", action="reject changes")
        with _logging_refusal(cred):
            result = self.gate.reject(change_id, by=cred.actor, reason=reason)
        self._emit("rejected", lambda: self._resolved(result))
        return result

    def _resolved(self, result: ApprovalResult) -> dict[str, Any]:
        try:
            q = self.gate.show_approval(result.change_id)
        except CrmgateError:
            q = {}
        return {**{k: q.get(k) for k in _EVENT_KEYS}, "change_id": result.change_id, "by": result.by,
                "note": result.note, "status": result.status, "message": result.message}

    def rollback(self, cred: Credential, *, change: str | None = None, batch: str | None = None,
                 actor: str | None = None, use_case: str | None = None, since: str | None = None,
                 until: str | None = None, dry_run: bool = False, force: bool = False,
                 progress: Progress | None = None, reconcile_first: bool = False) -> BulkRollbackReport:
        self.require(cred, "rollback", action="roll changes back")
        report = self.gate.rollback_many(change=change, batch=batch, actor=actor, use_case=use_case,
                                         since=since, until=until, dry_run=dry_run, force=force,
                                         by=cred.actor, progress=progress, reconcile_first=reconcile_first)
        for r in report.changes if self.events is not None else ():
            if r.status in ("reverted", "partial"):
                self._emit("rolled_back", {"change_id": r.change_id, "object": r.object, "op": r.op,
                                           "record_id": r.record_id, "actor": r.actor, "use_case": r.use_case,
                                           "by": cred.actor, "status": r.status, "message": r.message})
        return report

    def reconcile(self, cred: Credential, *, older_than: float = 0.0, dry_run: bool = False) -> ReconcileReport:
        self.require(cred, "rollback", action="reconcile writes")  # the admin scope of rollback
        return self.gate.reconcile(older_than=older_than, dry_run=dry_run)

    def export(self, cred: Credential, *, fmt: str = "jsonl", since: str | None = None,
               until: str | None = None, actor: str | None = None, use_case: str | None = None,
               object_name: str | None = None, record_id: str | None = None) -> tuple[bytes, dict[str, Any]]:
        """A zip of the export, its chain proof and its signed manifest, and the manifest."""
        self.require(cred, "export", action="export the trail")
        if self.signer is None:
            raise CrmgateError("this server has no trail key, so it cannot sign an export",
                               code="export_unavailable")
        filters = ExportFilters(since=parse_time(since, name="since"), until=parse_time(until, name="until"),
                                actor=actor, use_case=use_case, object=object_name, record_id=record_id)
        with tempfile.TemporaryDirectory(prefix="crmgate-export-") as tmp:
            out = Path(tmp) / f"trail.{fmt}"
            manifest = export_trail(self.gate.store, out, fmt=fmt, filters=filters, signer=self.signer,
                                    clock=self.gate.clock)
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for path in (p for p in (out, *sidecar_paths(out)) if p.exists()):
                    zf.write(path, arcname=path.name)
        log.info("export.done", credential_id=cred.id, actor=cred.actor, entries=manifest.get("entries"))
        return buffer.getvalue(), manifest
