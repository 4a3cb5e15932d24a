"""Chunk pipelining: the decisions and intents of chunk k+1 are committed while chunk k is in flight.

A round of the write path (distinct records, see :mod:`crmgate.writes.pipeline`) larger than the
adapter's ``max_batch`` is cut into chunks of that size, in submission order. The main thread takes
them one by one:

1. ONE trail append holds the chunk's decisions and write intents (with its approval-queue,
   idempotency and in-flight rows) and the results of every earlier chunk whose call has come
   back since the last append;
2. only after that commit is the chunk's write call handed to a worker thread
   (:func:`crmgate.writes.send.send`), which waits on the CRM with the GIL released while the main
   thread decides the next chunk.

After the last chunk the main thread waits for the calls still in flight and appends their results
in one more append. Entries keep submission order for decisions and intents, and results follow
their chunk's intents; every outcome lands on its own plan, so outcomes come back in submission
order. Same-record proposals are in different rounds, and a round is drained before the next
begins.

Crash story: a chunk's call is submitted only after its intents committed, so a process that dies
at any point leaves every write that may have been sent with its intent (and ``writing`` in-flight
row) committed; results that were not appended yet are missing, and reconcile settles those changes
from the CRM, as for a crash between intent and result in an unpipelined round. Chunks not decided
yet left nothing; repeating the batch with the same keys replays the decided ones.

Failures: a whole call failing stops later chunks of its object and op (:class:`~crmgate.writes.send.Stops`):
they are still decided and recorded, their writes fail as ``not_sent``. An adapter bug stops
everything: no further chunk is decided, calls not started are cancelled (recorded as not sent),
those in flight are awaited, every result is appended, then the error is raised. If an append
itself fails, calls in flight are awaited and their results appended if the store allows (else
reconcile settles them), and the append's error is raised.
"""
from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import structlog

from crmgate.adapters.base import Adapter, WriteResult
from crmgate.adapters.errors import RecordError
from crmgate.writes.plan import Plan
from crmgate.writes.send import Sent, Stops

log = structlog.get_logger("crmgate.chunks")

#: (the writes of one chunk, what came back for them)
Landed = tuple[list[Plan], Sent]
Commit = Callable[[list[Plan], list[Landed]], None]
Finish = Callable[[list[Landed]], None]
Send = Callable[[list[Plan], "Stops | None"], Sent]

_NOT_SENT = RecordError(code="not_sent", message="not sent: the batch stopped before this chunk's call",
                        details={"not_sent": True})


def lanes(adapter: Adapter) -> int:
    """How many chunk calls the write path keeps in flight for ``adapter`` (0: no pipelining): its
    ``write_lanes`` (:class:`~crmgate.adapters.base.Adapter`), never below 0."""
    return max(0, adapter.write_lanes)


def split(plans: list[Plan], size: int, lanes: int) -> list[list[Plan]]:
    """The chunks of a round, ``size`` each in order (a last chunk of one record joins the chunk
    before: a lone request would go as a call of its own kind, and the adapter splits a call of
    ``size + 1`` itself). One chunk, i.e. one adapter call that the adapter chunks and sends up to
    its own concurrency, unless pipelining pays: only when there are more chunks than ``lanes``
    (when every chunk's call fits in the lanes at once, the last one still starts after every
    decision, so overlapping gains nothing) and at least three (two chunks gain one call's latency
    at most, and a round of two keeps the adapter's own per-chunk failure reporting)."""
    n = len(plans)
    bounds = list(range(0, n, size)) + [n]
    if len(bounds) > 2 and n - bounds[-2] == 1:
        del bounds[-2]
    count = len(bounds) - 1
    if lanes < 1 or count <= max(lanes, 2):
        return [plans]
    return [plans[a:b] for a, b in zip(bounds, bounds[1:])]


def run_chunks(chunks: Sequence[list[Plan]], *, commit: Commit, send: Send, finish: Finish, lanes: int) -> None:
    """Decide, record and send ``chunks`` as the module docstring says. ``commit(chunk, landed)``
    appends the chunk's decisions and intents and the ``landed`` results in one transaction;
    ``send(writes, stops)`` calls the CRM (in a worker thread when pipelining); ``finish(landed)``
    appends results alone. Raises an adapter bug once every result is appended."""
    if len(chunks) == 1:  # nothing to overlap: decide, send, record, as an unpipelined round
        commit(chunks[0], [])
        writes = [p for p in chunks[0] if p.write]
        if writes:
            sent = send(writes, None)
            finish([(writes, sent)])
            if sent.unexpected is not None:
                raise sent.unexpected
        return
    stops = Stops()
    flying: deque[tuple[list[Plan], Future[Sent]]] = deque()
    landed: list[Landed] = []  # came back, not appended yet
    with ThreadPoolExecutor(max_workers=max(1, lanes), thread_name_prefix="crmgate-chunk") as pool:
        try:
            for chunk in chunks:
                while flying and flying[0][1].done():
                    writes, future = flying.popleft()
                    landed.append((writes, future.result()))
                if any(sent.unexpected is not None for _, sent in landed):
                    break  # an adapter bug: decide nothing more
                commit(chunk, landed)
                landed = []
                writes = [p for p in chunk if p.write]
                if writes:
                    # in the caller's context: its log fields (the request id) follow the call
                    flying.append((writes, pool.submit(contextvars.copy_context().run, send, writes, stops)))
        except BaseException:
            _drain(flying, landed, finish, quiet=True)
            raise
        landed = _drain(flying, landed, finish, quiet=False)
    for _, sent in landed:
        if sent.unexpected is not None:
            raise sent.unexpected


def _drain(flying: deque[tuple[list[Plan], Future[Sent]]], landed: list[Landed], finish: Finish, *,
           quiet: bool) -> list[Landed]:
    """Wait for the calls in flight, in order, and append every result not appended yet: while a
    call is still out, what came back before it is appended (the wait overlaps the append). Calls
    not started are cancelled (never sent: ``not_sent``) once the batch is stopping. ``quiet``: an
    error is already on its way; a failing append is logged, not raised (reconcile settles what
    it left unrecorded). Returns everything that came back."""
    stop = quiet or any(sent.unexpected is not None for _, sent in landed)
    seen = list(landed)
    todo = list(landed)
    while flying:
        writes, future = flying.popleft()
        if stop and future.cancel():
            sent = Sent({p.index: WriteResult(status="failed", error=_NOT_SENT) for p in writes})
        else:
            if todo and not future.done():
                todo = _finish(finish, todo, quiet)
            sent = future.result()
        stop = stop or sent.unexpected is not None
        seen.append((writes, sent))
        todo.append((writes, sent))
    if todo:
        _finish(finish, todo, quiet)
    return seen


def _finish(finish: Finish, landed: list[Landed], quiet: bool) -> list[Landed]:
    """Append ``landed``; returns what is left to append (nothing, unless a quiet append failed)."""
    if not quiet:
        finish(landed)
        return []
    try:
        finish(landed)
    except Exception as exc:  # noqa: BLE001 - the original error is raised by the caller
        log.error("chunks.results_not_recorded", error=type(exc).__name__, changes=sum(len(w) for w, _ in landed))
    return []
