"""Sending decided writes to the CRM: one adapter call per (object, op), a whole call's failure
turned into one result per record, and the *stop* that keeps later chunks from being sent.

:func:`send` touches neither the trail nor the plans' outcomes, only the adapter and the plans'
decided fields, so :mod:`crmgate.writes.chunks` runs it in a worker thread while the next chunk is
decided. It never raises: a :class:`CRMError` fails its call's records (``ambiguous`` ones are
recorded as unknown by the caller), and anything else (a bug in an adapter) is recorded as an
unknown outcome and handed back in :attr:`Sent.unexpected` for the caller to raise once every
result is in the trail.

Stops mirror what an adapter does with the chunks of one call (see
:mod:`crmgate.adapters.salesforce.chunks`): once a call fails as a whole, later chunks of the same
object and op are not sent, and their records fail with that error marked ``not_sent`` (certainly
not applied, so ``failed``, never ``unknown``). After an adapter bug nothing more is sent.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from crmgate.adapters.base import Adapter, CreateRequest, DeleteRequest, UpdateRequest, WriteResult
from crmgate.adapters.errors import CRMError, RecordError
from crmgate.rules.proposal import Op
from crmgate.writes.plan import Plan

Key = tuple[str, Op]


@dataclass(slots=True)
class Sent:
    """What came back for one chunk's writes: a result per plan index, and an adapter bug if any."""

    results: dict[int, WriteResult] = field(default_factory=dict)
    unexpected: BaseException | None = None


class Stops:
    """The first whole-call failure per (object, op), shared by the chunks of one round. Set and
    read from worker threads: each is one dict operation (atomic under the GIL)."""

    def __init__(self) -> None:
        self._by_key: dict[Key | None, RecordError] = {}

    def stop(self, key: Key | None, error: RecordError) -> None:
        """Later sends of ``key`` (None: of everything) fail with ``error``, marked not sent."""
        self._by_key.setdefault(key, replace(error, details={**error.details, "not_sent": True}, ambiguous=False))

    def error(self, key: Key) -> RecordError | None:
        return self._by_key.get(None) or self._by_key.get(key)


def send(adapter: Adapter, plans: Sequence[Plan], stops: Stops | None = None,
         sync: Callable[[], None] | None = None) -> Sent:
    """Send ``plans`` (decided writes), grouped by (object, op), one adapter call per group.

    ``sync`` first, when given: it puts the plans' committed intents on disk. If it fails, nothing
    is sent, now or later in the round: every plan fails ``not_sent`` (certainly not applied)."""
    if sync is not None:
        try:
            sync()
        except Exception as exc:  # noqa: BLE001 - the intents may not be on disk: no call may go out
            err = RecordError(code="not_sent", details={"not_sent": True}, message=(
                f"not sent: the trail could not be flushed to disk ({type(exc).__name__})"))
            if stops is not None:
                stops.stop(None, err)
            return Sent({p.index: WriteResult(status="failed", error=err) for p in plans})
    groups: dict[Key, list[Plan]] = {}
    for plan in plans:
        groups.setdefault((plan.proposal.object, plan.proposal.op), []).append(plan)
    sent = Sent()
    for key, group in groups.items():
        stopped = stops.error(key) if stops is not None else None
        if stopped is not None:
            got = [WriteResult(status="failed", error=stopped) for _ in group]
        else:
            try:
                got = call(adapter, key[0], key[1], group)
                if len(got) != len(group):
                    raise CRMError(f"adapter returned {len(got)} results for {len(group)} requests",
                                   code="malformed_response")
            except CRMError as exc:  # ``ambiguous`` on the error: recorded as unknown
                err = exc.to_record_error()
                if stops is not None:
                    stops.stop(key, err)
                got = [WriteResult(status="failed", error=err) for _ in group]
            except Exception as exc:  # a bug in an adapter: record it, then let it surface
                sent.unexpected = exc
                err = RecordError(code="unknown_outcome", ambiguous=True, message=(
                    f"the adapter raised {type(exc).__name__}; the write may or may not have "
                    "happened: run crmgate reconcile, never retry under a new key"))
                if stops is not None:
                    stops.stop(None, RecordError(code="not_sent", message=(
                        f"not sent: an earlier call raised {type(exc).__name__}")))
                got = [WriteResult(status="failed", error=err) for _ in group]
        sent.results.update(zip([p.index for p in group], got))
    return sent


def call(adapter: Adapter, obj: str, op: Op, group: list[Plan]) -> list[WriteResult]:
    """One adapter call for one group: creates carry their change id as idempotency key; updates
    and deletes carry the before-image's version as the expected version."""
    if op is Op.CREATE:
        return adapter.create_many(obj, [
            CreateRequest(fields=p.send or {}, idempotency_key=p.change_id) for p in group])
    if op is Op.UPDATE:
        return adapter.update_many(obj, [
            UpdateRequest(id=p.proposal.record_id, fields=p.send or {},  # type: ignore[arg-type]
                          expected_version=p.before.version if p.before else None)
            for p in group])
    return adapter.delete_many(obj, [
        DeleteRequest(id=p.proposal.record_id,  # type: ignore[arg-type]
                      expected_version=p.before.version if p.before else None)
        for p in group])
