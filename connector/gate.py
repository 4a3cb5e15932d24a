"""``Gate``: the one object the CLI, the demo and Python callers use.

    from crmgate import Gate, load_config
    with Gate.from_config(load_config("crmgate.yaml")) as gate:
        outcome = gate.propose({"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
                                "fields": {"LastName": "Ng", "Company": "Initech"}})[0]
        print(outcome.status)          # applied
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog

from crmgate import tables
from crmgate.adapters.base import Adapter, Record
from crmgate.adapters.budget import Budget
from crmgate.adapters.errors import AdapterConfigError, CRMError
from crmgate.approvals.candidates import duplicates_in, with_duplicates
from crmgate.approvals.queue import QueuedChange, list_queue
from crmgate.approvals.resolve import ApprovalResult, Approver
from crmgate.budget import budget_for
from crmgate.clock import Clock, IdFactory, iso, new_id, utc_now
from crmgate.config import Config, SandboxCRM
from crmgate.decide import pools
from crmgate.decide.enrichment import Enricher, ProviderRegistry, Runner, http_provider, thread_runner
from crmgate.errors import ConfigError
from crmgate.rollback.run import BulkRollbackReport, Progress, Rollback, RollbackReport, Selector
from crmgate.rules.loader import load_rulebook
from crmgate.rules.proposal import Proposal
from crmgate.trail import TrailSigner, TrailStore, load_public_key, load_signer
from crmgate.writes.check import Check, Checker
from crmgate.writes.intake import coerce, gc_paused
from crmgate.writes import inflight
from crmgate.writes.outcome import Outcome
from crmgate.writes.pipeline import WritePath
from crmgate.writes.reconcile import ReconcileReport, Reconciler, older

log = structlog.get_logger("crmgate.gate")


def make_adapter(config: Config, *, clock: Clock | None = None,
                 env: Mapping[str, str] | None = None, budget: Budget | None = None) -> Adapter:
    """Build the adapter the configuration names; bad CRM settings are a :class:`ConfigError`.
    ``budget`` holds the CRM's windows and stops (shared by the workers of one store)."""
    env = os.environ if env is None else env
    crm = config.crm
    try:
        if isinstance(crm, SandboxCRM):
            from crmgate.adapters.sandbox.adapter import SandboxAdapter

            if crm.path != ":memory:" and not _exists(crm.path):
                # a typo must not silently start an empty CRM beside the real one
                raise ConfigError(f"crm.path: no sandbox database at {crm.path} (run `crmgate init` "
                                  "or fix the path)", code="invalid_config")
            return SandboxAdapter(crm.path, clock=clock)
        if crm.kind == "salesforce":
            from crmgate.adapters.salesforce.adapter import SalesforceAdapter

            injected: dict[str, Any] = {"clock": clock} if clock is not None else {}
            return SalesforceAdapter.from_settings(crm.settings(), env=env, budget=budget,
                                                   trip_s=config.budget.trip_s, **injected)
        from crmgate.adapters.hubspot.adapter import HubSpotAdapter

        shared = {"budget": budget, "trip_s": config.budget.trip_s}
        if clock is not None:  # HubSpot's window counts seconds; follow the injected clock
            return HubSpotAdapter.from_settings(crm.settings(), env=env, clock=lambda: clock().timestamp(), **shared)
        return HubSpotAdapter.from_settings(crm.settings(), env=env, **shared)
    except AdapterConfigError as exc:
        raise ConfigError(f"crm: {exc.message}", details=exc.details or None) from None


def _exists(path: str, name: str = "crm.path") -> bool:
    try:
        return Path(path).exists()
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte in it
        raise ConfigError(f"{name}: not a usable file name ({type(exc).__name__}: "
                          f"{getattr(exc, 'strerror', None) or exc})", code="invalid_config") from None


def check_key_pair(config: Config, signer: TrailSigner) -> None:
    """Refuse a signing key that does not match the configured public key: every checkpoint it
    signed would fail verification later, when it is too late to notice."""
    try:
        public = config.public_key_path
    except ConfigError:
        return
    if public.exists() and load_public_key(public).key_id != signer.key_id:
        raise ConfigError(f"the trail signing key does not match {public} (key ids differ); "
                          "check trail_key_file or CRMGATE_TRAIL_KEY", code="invalid_trail_key")


class Gate:
    """Proposals in, outcomes out; rollback and the approval queue beside them.

    Every collaborator is injected; :meth:`from_config` wires the real ones. ``clock`` and ``ids``
    default to the wall clock and ULID-style ids.
    """

    def __init__(self, *, rulebook: Any, adapter: Adapter, store: TrailStore,
                 clock: Clock | None = None, ids: IdFactory | None = None,
                 approval_ttl: timedelta = timedelta(hours=72),
                 providers: ProviderRegistry | None = None, runner: Runner | None = None,
                 recovery_grace: float = 60.0) -> None:
        self.rulebook = rulebook
        self.adapter = adapter
        self.budget: Budget | None = None  # set by from_config: the CRM's windows, shared with the doors
        self.store = store
        self.clock = clock or utc_now
        self.ids = ids or new_id
        self.approval_ttl = approval_ttl
        tables.create_tables(store.engine)
        pools.create_tables(store.engine)
        self.providers = providers or ProviderRegistry()
        enricher = Enricher(rulebook, self.providers, clock=self.clock, runner=runner or thread_runner)
        self.recovery_grace = recovery_grace
        self._path = WritePath(rulebook=rulebook, adapter=adapter, store=store, clock=self.clock,
                               ids=self.ids, approval_ttl=approval_ttl, enricher=enricher,
                               recover=self._recover_keys)
        self._checker = Checker(rulebook=rulebook, adapter=adapter, store=store, enricher=enricher,
                                crm_objects=set(adapter.objects()))

    @classmethod
    def from_config(cls, config: Config, *, env: Mapping[str, str] | None = None,
                    clock: Clock | None = None, ids: IdFactory | None = None,
                    signer: TrailSigner | None = None, recover: bool = True) -> "Gate":
        """Load the rulebook, open the CRM adapter and the trail store named by ``config``; then,
        unless ``recover`` is false or ``recovery.on_start`` is off, reconcile writes orphaned by a
        crash (in flight longer than ``recovery.grace_s``)."""
        env = os.environ if env is None else env
        rulebook = load_rulebook(config.rules)
        if signer is None:
            signer = load_signer(config.trail_key_file, env=env)
            check_key_pair(config, signer)
        sqlite_file = config.store.startswith("sqlite:///")
        if sqlite_file and not _exists(config.store.removeprefix("sqlite:///"), "store"):
            raise ConfigError(f"store: no trail database at {config.store.removeprefix('sqlite:///')} "
                              "(run `crmgate init` or fix the URL); a typo must not start a second trail")
        budget = budget_for(config, clock=(lambda: clock().timestamp()) if clock is not None else time.time)
        adapter = make_adapter(config, clock=clock, env=env, budget=budget)  # a bad CRM setting touches no file
        try:
            store = TrailStore(config.store, signer=signer, clock=clock, create=not sqlite_file)
        except BaseException:
            adapter.close()
            raise
        registry = ProviderRegistry({name: http_provider(p.url, timeout=p.timeout_s, headers=p.headers(env))
                                     for name, p in config.providers.items()})
        gate = cls(rulebook=rulebook, adapter=adapter, store=store, clock=clock, ids=ids,
                   approval_ttl=timedelta(hours=config.approvals.ttl_hours), providers=registry,
                   recovery_grace=config.recovery.grace_s)
        gate.budget = budget  # the doors' request quotas share it
        if recover and config.recovery.on_start:
            try:  # orphans of a crashed run; a CRM that is down now must not stop the start
                gate.reconcile(older_than=config.recovery.grace_s)
            except CRMError as exc:
                log.warning("recovery.failed", code=exc.code, message=exc.message)
        return gate

    def propose(self, proposals: Proposal | Mapping[str, Any] | Iterable[Proposal | Mapping[str, Any]]
                ) -> list[Outcome]:
        """Decide and (where the rules allow) write each proposal; one outcome each, in order.

        Malformed proposals raise :class:`crmgate.errors.ProposalError` before anything is
        decided or written. Rule violations, conflicts and CRM failures are outcomes, not errors.
        """
        if isinstance(proposals, (Proposal, Mapping)):
            proposals = [proposals]
        items = coerce(list(proposals))
        with gc_paused(len(items)):
            return self._path.run(items)

    def check(self, proposals: Proposal | Mapping[str, Any] | Iterable[Proposal | Mapping[str, Any]]
              ) -> list[Check]:
        """What :meth:`propose` would do now, and why, writing nothing; see :mod:`crmgate.writes.check`."""
        if isinstance(proposals, (Proposal, Mapping)):
            proposals = [proposals]
        return self._checker.run(coerce(list(proposals)))

    def rollback(self, change_id: str, *, dry_run: bool = False, force: bool = False,
                 by: str = "admin") -> RollbackReport:
        """Undo one applied change where it is safe; see :mod:`crmgate.rollback.run`."""
        return Rollback(self.adapter, self.store, self.ids, by=by).run(
            change_id, dry_run=dry_run, force=force)

    def rollback_many(self, *, change: str | None = None, batch: str | None = None,
                      actor: str | None = None, use_case: str | None = None, since: Any = None,
                      until: Any = None, dry_run: bool = False, force: bool = False, by: str = "admin",
                      progress: Progress | None = None, reconcile_first: bool = False) -> BulkRollbackReport:
        """Undo a batch, an actor's or a use case's changes (``since``/``until``), or one change;
        exactly one selector. Changes whose effect is not known are listed as ``unjudged``;
        ``reconcile_first`` reconciles them before. See :mod:`crmgate.rollback.run`."""
        selector = Selector(change=change, batch=batch, actor=actor, use_case=use_case,
                            since=since, until=until)
        rollback = Rollback(self.adapter, self.store, self.ids, by=by)
        if reconcile_first:
            open_ids = [change] if change else rollback.open_changes(selector)
            if open_ids:
                self.reconcile(change_ids=open_ids, dry_run=dry_run)
        return rollback.run_many(
            selector, dry_run=dry_run, force=force, progress=progress)

    def reconcile(self, *, older_than: float = 0.0, change_ids: Iterable[str] | None = None,
                  dry_run: bool = False) -> ReconcileReport:
        """Judge every ``unknown`` write and every intent without a result older than
        ``older_than`` seconds against the CRM; see :mod:`crmgate.writes.reconcile`."""
        return Reconciler(adapter=self.adapter, store=self.store, clock=self.clock, ids=self.ids,
                          allowed=self._still_allowed).run(older_than=older(older_than),
                                                           change_ids=change_ids, dry_run=dry_run)

    def _recover_keys(self, stored: dict[str, Outcome]) -> dict[str, Outcome]:
        """Repeated keys whose first write is open: reconcile those older than the grace period
        (the writer died, or the outcome is unknown); younger ones are still running: in_progress."""
        open_keys = {k for k, o in stored.items() if o.status in inflight.OPEN}
        with self.store.engine.connect() as conn:
            rows = inflight.by_keys(conn, open_keys)
        cutoff = iso(self.clock() - timedelta(seconds=self.recovery_grace))
        due = [r.change_id for r in rows.values() if r.state == "unknown" or r.started_at <= cutoff]
        if not due:
            return stored
        self.reconcile(change_ids=due)
        with self.store.engine.connect() as conn:
            fresh = tables.stored_outcomes(conn, open_keys)
        return {**stored, **{k: Outcome.from_dict(v) for k, v in fresh.items()}}

    def _still_allowed(self, proposals: list[Proposal]) -> list[str | None]:
        return [None if c.status == "applied" else f"{c.status}: {c.reason}" for c in self._checker.run(proposals)]

    def approvals(self, *, status: str | None = None, use_case: str | None = None) -> list[QueuedChange]:
        items = list_queue(self.store.engine, self.clock, status=status, use_case=use_case)
        return with_duplicates(self.store, items) if getattr(self.rulebook, "matching", None) else items

    def show_approval(self, change_id: str) -> dict[str, Any]:
        """A queued change with its trail history; :class:`ApprovalError` if unknown."""
        item = self._approver().show(change_id)
        item["duplicates"] = duplicates_in(self.store.entries_for(change_id=change_id))
        return item

    def approve(self, change_id: str, *, by: str, note: str | None = None,
                edits: Mapping[str, Any] | None = None) -> ApprovalResult:
        """Approve a queued change: separation of duties, expiry, re-check, optional edits, write.
        Refusals raise :class:`crmgate.errors.ApprovalError`; see :mod:`crmgate.approvals.resolve`."""
        return self._approver().approve(change_id, by=by, note=note, edits=dict(edits or {}))

    def requeue(self, change_id: str, *, by: str, note: str | None = None) -> dict[str, Any]:
        """Decide a stale change again on the record as it is now, as a new queued change linked to
        the old one; see :mod:`crmgate.approvals.requeue`."""
        return self._approver().requeue(change_id, by=by, note=note)

    def reject(self, change_id: str, *, by: str, reason: str) -> ApprovalResult:
        """Reject a queued change; nothing is written to the CRM."""
        return self._approver().reject(change_id, by=by, reason=reason)

    def _approver(self) -> Approver:
        return Approver(rulebook=self.rulebook, adapter=self.adapter, store=self.store,
                        clock=self.clock, ids=self.ids, approval_ttl=self.approval_ttl)

    def record(self, object: str, record_id: str) -> Record | None:
        return self.adapter.get_many(object, [record_id]).get(record_id)

    def close(self) -> None:
        self.adapter.close()
        self.store.close()

    def __enter__(self) -> "Gate":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
