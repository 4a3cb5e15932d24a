"""The governed write path: before-images, decisions, intents, conditional batched writes, results.

For a batch of proposals (:meth:`WritePath.run`):

1. Idempotency: a key seen before returns the stored outcome (``replayed``); nothing is redone. A
   key is claimed in the deciding transaction, so two workers never both execute it.
2. Rounds: proposals touching the same record run in submission order, one per round, so each
   one's before-image is read after the previous one's write.
3. Per round: one ``get_many`` per object for the before-images; ``rules.decide`` for each proposal;
   ONE trail append holding every decision and every write intent, with the approval-queue and
   idempotency rows in the same transaction; then batched conditional adapter calls; then ONE
   trail append of every result. A crash between the two appends leaves intents without results:
   visible, never silent.
4. A round larger than one adapter call is cut into chunks that are pipelined: the decisions and
   intents of chunk k+1 are committed while chunk k's call is in flight, and each chunk's intents
   still commit before its call (:mod:`crmgate.writes.chunks`; sending: :mod:`crmgate.writes.send`).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa
import structlog

from crmgate import tables
from crmgate.adapters.base import Adapter, WriteResult
from crmgate.adapters.errors import CRMError
from crmgate.clock import Clock, IdFactory, iso
from crmgate.decide import pools
from crmgate.decide.enrichment import Enricher
from crmgate.decide.governance import govern, pool_keys
from crmgate.rules.decision import Decision
from crmgate.rules.proposal import Op, Proposal
from crmgate.trail import NewEntry, TrailStore
from crmgate.writes import chunks, durable, inflight
from crmgate.writes.before_images import read_before_images
from crmgate.writes.duplicates import BatchGuard
from crmgate.writes.outcome import Outcome
from crmgate.writes.plan import Plan
from crmgate.writes.send import send

log = structlog.get_logger("crmgate.pipeline")

_STATUS_OF_WRITE = {"ok": "applied", "conflict": "conflict", "failed": "failed", "unknown": "unknown"}
_STATUS_OF_ACTION = {"queue": "queued", "reject": "rejected", "shadow": "shadowed", "apply": "applied"}
_OP_TEXT = {op: op.value for op in Op}  # an enum's .value is a descriptor call: 3 per proposal
#: the proposal's fields a decided entry records (object, op, record_id and actor are columns)
_RECORDED = tuple(n for n in Proposal.model_fields if n not in ("object", "op", "record_id", "actor"))


@dataclass(slots=True)
class _Round:
    """What every chunk of one round shares: read once, before the first chunk is decided."""

    batch_id: str
    read_errors: dict[str, CRMError]
    guard: BatchGuard
    keys: set[pools.Key]
    live: set[pools.Key]
    pipelined: bool


class WritePath:
    """Runs batches of proposals against one adapter, one rulebook and one trail store."""

    def __init__(self, *, rulebook: Any, adapter: Adapter, store: TrailStore, clock: Clock,
                 ids: IdFactory, approval_ttl: timedelta = timedelta(hours=72),
                 enricher: Enricher | None = None,
                 recover: Callable[[dict[str, Outcome]], dict[str, Outcome]] | None = None,
                 sync: Callable[[TrailStore], None] = durable.sync) -> None:
        self.rulebook = rulebook
        self.sync = sync  # puts committed appends on disk (a pipelined chunk's, before its call)
        self.recover = recover  # reconciles the first attempts of repeated keys that are still open
        self.enricher = enricher
        self.adapter = adapter
        self.store = store
        self.clock = clock
        self.ids = ids
        self.approval_ttl = approval_ttl
        self.rulebook_version = rulebook.version_hash
        self._crm_objects = set(adapter.objects())
        self.lanes = chunks.lanes(adapter)  # chunk calls kept in flight (crmgate.writes.chunks)

    # -- public -------------------------------------------------------------------------------
    def run(self, proposals: Sequence[Proposal]) -> list[Outcome]:
        batch_id = self.ids("bat")
        outcomes: list[Outcome | None] = [None] * len(proposals)
        stored = self._stored_outcomes({p.idempotency_key for p in proposals if p.idempotency_key})
        if self.recover is not None and any(o.status in inflight.OPEN for o in stored.values()):
            stored = self.recover(stored)  # a crashed or unknown first attempt: reconcile it, then replay
        first_with_key: dict[str, int] = {}
        duplicates: dict[int, int] = {}
        todo: list[int] = []
        for i, p in enumerate(proposals):
            key = p.idempotency_key
            if key and key in stored:
                outcomes[i] = self._replay(stored[key], p, self.ids("prp"), batch_id)
            elif key and key in first_with_key:
                duplicates[i] = first_with_key[key]
            else:
                if key:
                    first_with_key[key] = i
                todo.append(i)
        for round_ in _rounds(todo, proposals):
            for plan in self._run_round(round_, proposals, batch_id):
                outcomes[plan.index] = plan.outcome
        for i, j in duplicates.items():
            outcomes[i] = replace(outcomes[j], replayed=True)  # type: ignore[arg-type]
        return outcomes  # type: ignore[return-value]

    # -- a round ------------------------------------------------------------------------------
    def _run_round(self, indices: list[int], proposals: Sequence[Proposal], batch_id: str) -> list[Plan]:
        plans = [Plan(i, proposals[i], self.ids("prp")) for i in indices]
        read_errors = self._read_before_images(plans)
        guard = BatchGuard.prepare(self.adapter, self.rulebook, self._crm_objects, [p.proposal for p in plans])
        for plan in plans:
            if plan.proposal.object not in read_errors and self.enricher is not None:
                plan.enrichment = self.enricher.enrich(
                    plan.proposal.object, _OP_TEXT[plan.proposal.op], plan.proposal.fields,
                    plan.before.fields if plan.before else None)  # read only: the enricher merges a copy
        keys = pool_keys(self.rulebook, [p.proposal for p in plans]) if self.rulebook.routing else set()
        live = {k for k in keys if not self.rulebook.routing[k[0]].shadow}  # the pools a decision may advance
        parts = chunks.split(plans, self.adapter.max_batch, self.lanes)
        # pipelined: a chunk's intents commit without waiting for the disk; its call's worker waits
        # (durable.sync) before the call, while this thread decides the next chunk
        round_ = _Round(batch_id, read_errors, guard, keys, live, pipelined=len(parts) > 1)
        sync = partial(self.sync, self.store) if round_.pipelined else None
        chunks.run_chunks(parts, commit=partial(self._commit, round_), send=partial(send, self.adapter, sync=sync),
                          finish=partial(self._finish, batch_id), lanes=self.lanes)
        return plans

    def _commit(self, round_: _Round, plans: list[Plan], landed: list[chunks.Landed]) -> None:
        """ONE append: the decisions and intents of ``plans``, and the results that ``landed``."""
        batch_id, read_errors, guard, keys, live = (round_.batch_id, round_.read_errors, round_.guard,
                                                    round_.keys, round_.live)
        results, done = self._results(landed, batch_id)
        queue_rows: list[dict[str, Any]] = []

        def build(conn: sa.Connection) -> list[NewEntry]:
            # Runs in the append's transaction BEFORE the trail head is locked. Locks, in this order
            # and each held to the commit: the idempotency keys claimed, the live pools' rows.
            queue_rows.clear()
            claims = {p.proposal.idempotency_key: p.proposal_id for p in plans if p.proposal.idempotency_key}
            held = inflight.claim_keys(conn, claims)
            taken = self._stored_outcomes(set(claims) - held, conn)  # another worker used these keys
            states = {**pools.load(conn, keys - live), **pools.lock(conn, live)}
            changed: dict[pools.Key, Any] = {}
            decided: list[NewEntry] = []
            for plan in plans:
                key = plan.proposal.idempotency_key
                if key and key in taken:
                    plan.outcome = self._replay(taken[key], plan.proposal, plan.proposal_id, batch_id)
                    plan.replayed = True
                    continue
                err = read_errors.get(plan.proposal.object) or guard.error(plan.proposal)
                if err is not None:
                    plan.outcome = self._outcome(plan, batch_id, "failed", error=err.to_record_error().to_dict(),
                                                 reason="the before-image could not be read"
                                                 if plan.proposal.object in read_errors else
                                                 "the duplicate candidates could not be read")
                    decided.append(self._decided_entry(plan, batch_id, "failed", error=plan.outcome.error))
                    continue
                self._decide(plan, batch_id, states, decided, queue_rows, guard)
                states.update(plan.governed.pool_changes)  # type: ignore[union-attr]
                changed.update(plan.governed.pool_changes)  # type: ignore[union-attr]
            pools.save(conn, changed)
            self._also(queue_rows, plans, provisional=True)(conn, decided)
            return [*results, *decided]

        # Signed now, though the results' append would sign it too: left unsigned, the intents would
        # show as an unsigned tail to a live ``trail verify`` or export for the whole CRM call.
        # this append holds the chunk's intents, which must be on disk before its call: now, or
        # (pipelined) in the call's worker thread first
        self.store.append(build, also=self._also([], done, provisional=False) if done else None,
                          durable=not round_.pipelined)

    @staticmethod
    def _replay(stored: Outcome, proposal: Proposal, proposal_id: str, batch_id: str) -> Outcome:
        """The first outcome of a repeated key; for another actor's key, a refusal that tells nothing
        of that outcome (keys are global, and one agent must not read another's)."""
        if stored.actor == proposal.actor:
            return replace(stored, replayed=True)
        return Outcome(status="failed", proposal_id=proposal_id, batch_id=batch_id, object=proposal.object,
                       op=proposal.op.value, actor=proposal.actor, record_id=proposal.record_id,
                       reason="not decided: another actor already used this idempotency key",
                       error={"code": "idempotency_key_in_use",
                              "message": "another actor already used this idempotency key; nothing was "
                                         "decided or written: choose keys unique to this workflow"})

    def _read_before_images(self, plans: list[Plan]) -> dict[str, CRMError]:
        found, errors = read_before_images(self.adapter, self.rulebook, self._crm_objects,
                                           (p.proposal for p in plans))
        for plan in plans:
            if plan.proposal.record_id:
                plan.before = found.get((plan.proposal.object, plan.proposal.record_id))
        return errors

    def _decide(self, plan: Plan, batch_id: str, states: dict, decided: list[NewEntry],
                queue_rows: list[dict[str, Any]], guard: BatchGuard) -> None:
        check, p, merge_into = guard.screen(plan.proposal)
        if check is not None and check.merged_into is not None:  # update_existing: decided as an update
            plan.proposal, plan.before = p, merge_into
        g = govern(p, plan.before.fields if plan.before else None, self.rulebook, plan.enrichment, states, check)
        guard.remember(p, plan.proposal_id, g.decision.action)
        plan.governed, plan.decision, plan.trace = g, g.decision, g.trace()
        d = g.decision
        status = _STATUS_OF_ACTION[d.action]
        plan.change_id, plan.write = None, False
        if d.action == "apply" and d.changes:
            plan.change_id, plan.write = self.ids("chg"), True
        elif d.action == "queue":
            plan.change_id = self.ids("chg")
            queue_rows.append(self._queue_row(plan))
        if not plan.write or p.idempotency_key:  # a write's outcome comes from its result; a keyed
            plan.outcome = self._outcome(plan, batch_id, status)  # one's is stored now as in_progress
        entry = self._decided_entry(plan, batch_id, "applying" if plan.write else status)
        decided.append(entry)
        if plan.write:
            plan.send = write_fields(p, d)
            decided.append(self._entry(plan, batch_id, "write.intent", {
                "changes": entry.data["decision"]["changes"],  # the same list: one walk, one copy less
                "fields": plan.send,
                "expected_version": plan.before.version if plan.before else None,
                "idempotency_key": plan.change_id,
                "provenance": g.provenance or None,
            }))

    # -- results ------------------------------------------------------------------------------
    def _finish(self, batch_id: str, landed: list[chunks.Landed]) -> None:
        """ONE append of the results that ``landed``, with their in-flight and idempotency rows."""
        entries, done = self._results(landed, batch_id)
        # results only: not waiting for the disk is safe, since a lost result leaves its intent open
        # for reconcile (connector/trail/store.py, durable=False)
        self.store.append(entries, also=self._also([], done, provisional=False), durable=False)

    def _results(self, landed: list[chunks.Landed], batch_id: str) -> tuple[list[NewEntry], list[Plan]]:
        """The result entries of sent writes; sets each one's final outcome."""
        entries: list[NewEntry] = []
        done: list[Plan] = []
        for plans, sent in landed:
            for plan in plans:
                res = sent.results[plan.index]
                if res.status == "failed" and res.error is not None and res.error.ambiguous:
                    res = replace(res, status="unknown")  # type: ignore[arg-type]  # failed means certainly not applied
                status = _STATUS_OF_WRITE[res.status]
                record_id = res.id or plan.proposal.record_id
                error = res.error.to_dict() if res.error else None
                reason = _write_reason(status, plan.decision.reason, error)  # type: ignore[union-attr]
                plan.outcome = self._outcome(plan, batch_id, status, error=error, record_id=record_id, reason=reason)
                entries.append(self._entry(plan, batch_id, "write.result", {
                    "status": res.status,
                    "record_id": record_id,
                    "version": res.record.version if res.record else None,
                    "after": _after_values(plan, res),
                    "error": error,
                    "info": res.info or None,
                }, record_id=record_id))
                done.append(plan)
        return entries, done

    # -- records ------------------------------------------------------------------------------
    def _outcome(self, plan: Plan, batch_id: str, status: str, *, error: dict | None = None,
                 reason: str | None = None, record_id: str | None = None) -> Outcome:
        p, d = plan.proposal, plan.decision
        return Outcome(
            status=status,  # type: ignore[arg-type]
            proposal_id=plan.proposal_id, batch_id=batch_id, object=p.object, op=_OP_TEXT[p.op],
            actor=p.actor, record_id=record_id or p.record_id, change_id=plan.change_id,
            use_case=d.use_case if d else p.use_case, rule=d.rule if d else None,
            tier=d.tier if d else None, reason=reason or (d.reason if d else ""),
            violations=d.violations if d else (), changes=d.changes if d else (),
            would=d.would if d else None, error=error,
            extra=plan.trace,
        )

    def _entry(self, plan: Plan, batch_id: str, kind: str, data: dict[str, Any],
               record_id: str | None = None) -> NewEntry:
        p, d = plan.proposal, plan.decision
        return NewEntry(kind=kind, proposal_id=plan.proposal_id, batch_id=batch_id,
                        change_id=plan.change_id, actor=p.actor,
                        use_case=(d.use_case if d else None) or p.use_case, object=p.object,
                        record_id=record_id or p.record_id, op=_OP_TEXT[p.op], data=data)

    def _decided_entry(self, plan: Plan, batch_id: str, status: str,
                       error: dict | None = None) -> NewEntry:
        p = plan.proposal
        return self._entry(plan, batch_id, "proposal.decided", {
            "status": status,
            # what model_dump(mode="json") gives for these fields (none is an enum), for a fifth of
            # its cost; the trail's own check copies anything that is not plain JSON
            "proposal": {name: getattr(p, name) for name in _RECORDED},
            "decision": plan.decision.to_dict() if plan.decision else None,
            "rulebook_version": self.rulebook_version,
            "before": {"version": plan.before.version, "fields": plan.before.fields} if plan.before else None,
            "error": error,
            **plan.trace,
        })

    def _queue_row(self, plan: Plan) -> dict[str, Any]:
        p, d = plan.proposal, plan.decision
        now = self.clock()
        return {
            "change_id": plan.change_id, "proposal_id": plan.proposal_id, "status": "pending",
            "object": p.object, "op": p.op.value, "record_id": p.record_id, "actor": p.actor,
            "use_case": d.use_case, "tier": d.tier, "rule": d.rule, "reason": d.reason,  # type: ignore[union-attr]
            "proposal": p.model_dump_json(),
            "changes": json.dumps([c.to_dict() for c in d.changes], ensure_ascii=False),  # type: ignore[union-attr]
            "base_version": plan.before.version if plan.before else None,
            "queued_at": iso(now), "expires_at": iso(now + self.approval_ttl),
        }

    def _also(self, queue_rows: list[dict[str, Any]], plans: list[Plan], *, provisional: bool):
        """Rows that must commit with the entries: queued changes, and the idempotency index.

        Before the CRM call (``provisional``) a write's stored outcome says it is unresolved, so a
        replay after a crash tells the caller to check the record rather than claiming success.
        """
        now = self.clock()

        def write_rows(conn: sa.Connection, _entries: list) -> None:
            # read the plans now: the decisions (write, replayed) are made in the same transaction
            keyed = [(p.proposal.idempotency_key, p) for p in plans if p.proposal.idempotency_key and not p.replayed]
            writes = [p for p in plans if p.write and not p.replayed]
            if queue_rows:
                conn.execute(tables.approvals.insert(), queue_rows)
            if provisional:
                inflight.started(conn, [inflight.Started(p.change_id, p.proposal_id, p.proposal.idempotency_key,  # type: ignore[arg-type]
                                                         p.proposal.object, _OP_TEXT[p.proposal.op]) for p in writes], now)
            else:
                inflight.finished(conn, {p.change_id: p.outcome.status for p in writes})  # type: ignore[misc, union-attr]
            inflight.save_claimed(conn, [(key, plan.proposal_id, inflight.provisional(plan.outcome)  # type: ignore[arg-type]
                                           if provisional and plan.write else plan.outcome) for key, plan in keyed])
        return write_rows

    def _stored_outcomes(self, keys: set[str], conn: sa.Connection | None = None) -> dict[str, Outcome]:
        if not keys:
            return {}
        if conn is None:
            with self.store.engine.connect() as own:
                return self._stored_outcomes(keys, own)
        return {key: Outcome.from_dict(data) for key, data in tables.stored_outcomes(conn, keys).items()}


def write_fields(proposal: Proposal, decision: Decision | None) -> dict[str, Any]:
    """What is sent to the CRM: the decided changes (every proposed, enriched and routed field on
    create; only changed fields on update); nothing for a delete."""
    if proposal.op is Op.DELETE or decision is None:
        return {}
    return {c.field: c.after for c in decision.changes}


def _after_values(plan: Plan, res: WriteResult) -> dict[str, Any] | None:
    if res.record is None or plan.decision is None:
        return None
    if plan.proposal.op is Op.DELETE:
        return {}
    after = res.record.fields
    return {c.field: after.get(c.field) for c in plan.decision.changes}


def _write_reason(status: str, decided_reason: str, error: dict | None) -> str:
    if status == "applied":
        return f"written: {decided_reason}"
    if status == "conflict":
        return "not written: the record changed after its before-image was read"
    if status == "unknown":
        return (f"outcome unknown: {error['message'] if error else 'the CRM did not answer'}; the write may "
                "have been applied: crmgate reconcile will tell; never retry under a new key")
    return f"not written: {error['message'] if error else 'the CRM refused the write'}"


def _rounds(indices: list[int], proposals: Sequence[Proposal]) -> list[list[int]]:
    """Split so that no round touches one record twice; same-record proposals keep their order."""
    rounds: list[list[int]] = []
    last: dict[tuple[str, str], int] = {}
    for i in indices:
        p = proposals[i]
        r = 0
        if p.record_id is not None:
            key = (p.object, p.record_id)
            r = last.get(key, -1) + 1
            last[key] = r
        while len(rounds) <= r:
            rounds.append([])
        rounds[r].append(i)
    return rounds

