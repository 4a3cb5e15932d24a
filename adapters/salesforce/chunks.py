"""The chunks of one adapter call, sent up to ``concurrency`` at a time, answers in request order;
and one chunk's retries (:func:`resilient`).

Salesforce serves concurrent API requests, and the requests of one adapter call never name a
record twice, so the Collections chunks of one create, update or delete are independent: they
may be in flight together. ``concurrency: 1`` sends them one after another.

A chunk that fails as a whole (after its own retries) fails its own records only; chunks already
in flight finish and keep their answers, chunks not started yet are not sent and their records
fail with the same error, marked ``details["not_sent"]`` (as the HubSpot adapter does for the
chunks after a failed one). When nothing was written at all, the first error is raised, as for a
single call.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

from crmgate.adapters.base import WriteResult
from crmgate.adapters.errors import CRMError, UnavailableError

T = TypeVar("T")
R = TypeVar("R")


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def map_in_order(fn: Callable[[T], R], parts: Sequence[T], concurrency: int) -> list[R]:
    """``[fn(p) for p in parts]``, with up to ``concurrency`` calls running at once."""
    if concurrency <= 1 or len(parts) <= 1:
        return [fn(p) for p in parts]
    with ThreadPoolExecutor(max_workers=min(concurrency, len(parts)), thread_name_prefix="crmgate-sf") as pool:
        return list(pool.map(fn, parts))


Job = tuple[list[int], Callable[[], list[WriteResult]]]


def send_chunks(jobs: list[Job], ids: Callable[[int], str | None], concurrency: int) -> dict[int, WriteResult]:
    """Run each job (request positions, and the call that sends them); one result per position.
    Failures: see the module docstring; ``ids(position)`` names a failed result's record."""
    stop = threading.Event()

    def one(job: Job) -> list[WriteResult] | CRMError | None:
        if stop.is_set():
            return None
        try:
            return job[1]()
        except CRMError as exc:
            stop.set()
            return exc

    got = map_in_order(one, jobs, concurrency)
    first = next((g for g in got if isinstance(g, CRMError)), None)
    if first is not None and not any(isinstance(g, list) for g in got):
        raise first
    out: dict[int, WriteResult] = {}
    for (part, _), g in zip(jobs, got):
        if isinstance(g, list):
            out.update(zip(part, g))
            continue
        error = (g or first).to_record_error()  # type: ignore[union-attr]
        if g is None:  # never sent: certainly not applied
            error = replace(error, details={**error.details, "not_sent": True}, ambiguous=False)
        out.update((k, WriteResult("failed", id=ids(k), error=error)) for k in part)
    return out


def noting(seen: list[bool], call: Callable[[], T]) -> T:
    """``call()``, appending to ``seen`` whether a failure was ambiguous (for a retry loop)."""
    try:
        return call()
    except CRMError as exc:
        seen.append(exc.ambiguous)
        raise


class _RecordsToRetry(UnavailableError):
    """Raised inside a retry loop when some records of a Collections answer were locked."""


def resilient(send: Callable[[list[int]], list[WriteResult]], n: int,
              retrying: Callable[[Callable[[], None]], Any], *, ambiguous_unsafe: bool = False) -> list[WriteResult]:
    """One Collections call under the retry policy; locked records alone are sent again."""
    results: list[WriteResult | None] = [None] * n
    pending = list(range(n))
    sent_blind = False  # an earlier attempt may have been applied without our hearing of it

    def attempt() -> None:
        nonlocal pending, sent_blind
        try:
            got = send(pending)
        except CRMError as exc:
            # a create without an upsert key must not be re-sent when the first may have landed:
            # a 5xx or a lost connection after sending is ambiguous (a row lock is not)
            if ambiguous_unsafe and exc.retryable and exc.ambiguous:
                exc.retryable = False
                exc.details["not_retried"] = "the create may have been applied; no idempotency_field is set"
            sent_blind = sent_blind or exc.ambiguous
            raise
        again = []
        for k, res in zip(pending, got):
            if sent_blind and res.status != "ok" and res.error is not None:
                # e.g. ENTITY_IS_DELETED or 412 answering our own earlier, unheard write
                res = replace(res, status="failed", error=replace(res.error, ambiguous=True))
            results[k] = res
            if res.error is not None and res.error.retryable:
                again.append(k)
        pending = again
        if pending:
            raise _RecordsToRetry(f"{len(pending)} records locked", code="UNABLE_TO_LOCK_ROW")

    try:
        retrying(attempt)
    except _RecordsToRetry:
        pass  # attempts spent: the locked records stay failed with UNABLE_TO_LOCK_ROW
    except CRMError as exc:
        if all(r is None for r in results):
            exc.ambiguous = exc.ambiguous or sent_blind
            raise
        # a retry of the locked rest failed as a whole: what was written stays reported
    return results  # type: ignore[return-value]
