"""The HubSpot adapter: contacts, companies and deals through hubspot-api-client's generic objects API.

What the API allows, and what this adapter does about it:
* **Batches of 100** (``max_batch``) for reads and writes: N updates with before-images cost
  ceil(N/100) reads plus ceil(N/100) updates in the default configuration.
* **No conditional writes**: check-then-write (see :mod:`crmgate.adapters.hubspot.check`). A request carrying
  ``expected_version`` is compared with this adapter's own read of the record when that read is
  younger than ``recheck_after`` seconds, else with a fresh batch re-read; a record that moved is a
  ``conflict`` and is not written; deletes always re-read (+1 call per 100). After the write the batch response is checked (it must echo the
  written values); with ``verify="history"`` the property history is read back (50 records per call)
  and any other source's write between the check and our write is flagged in ``info["race"]``.
  Residual window: a write landing between the check and our write is overwritten (detected with
  ``verify="history"``, never prevented: HubSpot has no conditional update).
* **207 multi-status**: each ``errors[]`` entry maps to its input (``context.ids`` for update,
  ``context.objectWriteTraceId`` for create) and is reported per record; the good ones are applied.
* **Idempotent creates**: a create with an ``idempotency_key`` also writes it to the unique-value
  property ``idempotency_property`` (default ``crmgate_idempotency_key``). HubSpot refuses a second
  record with the same value, so a retried create cannot duplicate; the refusal is answered by
  reading the record by that property (``idProperty``), returned as ``ok`` with
  ``info["idempotent_replay"]`` (and reconcile finds creates the same way). Without the property,
  only contacts are protected (by HubSpot's unique ``email``).
* **Rate limits**: every call first spends one hit of the app's window in the injected budget
  (:mod:`crmgate.adapters.hubspot.calls`; 190 per 10 s by default, shared by every worker on the
  budget's storage), with up to ``max_inflight`` (8) calls in flight; 429 TEN_SECONDLY_ROLLING and 5xx are
  retried honouring Retry-After; 429 DAILY raises :class:`QuotaExhaustedError` and every later call
  of every worker sharing the budget fails at once (the run stops).
* Errors: :mod:`crmgate.adapters.hubspot.errors`. The token comes from the environment, never logged.
* Answers are read raw (``_preload_content=False``) and parsed as JSON: the SDK's model layer parsed
  every timestamp with dateutil, half the CPU of a governed write. Requests still go through the
  SDK's API objects (auth, URLs, its exception classes), built once in ``__init__``.
"""
from __future__ import annotations

import random
import time
from functools import partial
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from hubspot import HubSpot

from crmgate.adapters.base import Adapter, CreateRequest, DeleteRequest, Record, UpdateRequest, WriteResult
from crmgate.adapters.budget import Budget, WindowBudget
from crmgate.adapters.errors import CRMError, NotFoundError, RecordError
from crmgate.adapters.hubspot.calls import NOT_SENT, Calls, first_error
from crmgate.adapters.hubspot.check import Check, Seen, history_race, plan_check
from crmgate.adapters.hubspot.create import create_many, find_created
from crmgate.adapters.hubspot.errors import record_error
from crmgate.adapters.hubspot.records import (
    DEFAULT_NUMBER_PROPERTIES, DEFAULT_PROPERTIES, OBJECTS, encode, errors_of, results_of, to_record,
    version_property,
)
from crmgate.adapters.hubspot.search import find_candidates as _find_candidates
from crmgate.adapters.hubspot.settings import parse_settings
from crmgate.adapters.retry import RetryPolicy

_T = TypeVar("_T")
HISTORY_BATCH = 50  # HubSpot's limit for batch reads with propertiesWithHistory


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class HubSpotAdapter(Adapter):
    """HubSpot CRM v3. Build with :meth:`from_settings` from configuration, or directly in tests.

    ``clock`` (seconds) and ``sleep`` drive the window, the retry waits and the before-image ages;
    ``jitter`` is the retry backoff's randomness. ``budget`` holds the app's window (shared by the
    workers that share its storage; this process's own when None). The SDK's API objects are built
    once here and reused by every call.
    """

    kind = "hubspot"
    max_batch = 100
    #: chunk calls the write path keeps in flight (crmgate.writes.chunks): as many as this adapter
    #: sends at once, so a pipelined round keeps the rate window as full as one whole call does
    write_lanes = property(lambda self: self.calls.max_inflight)
    find_candidates = _find_candidates  # CRM search, at its own rate (crmgate.adapters.hubspot.search)

    def __init__(self, *, token: str, host: str = "https://api.hubapi.com",
                 rate_limit: tuple[int, float] = (190, 10.0), retry: RetryPolicy | None = None,
                 timeout: float = 30.0, recheck_after: float = 15.0, verify: str = "response",
                 idempotency_property: str | None = "crmgate_idempotency_key",
                 properties: Mapping[str, Sequence[str]] | None = None,
                 number_properties: Mapping[str, Sequence[str]] | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 jitter: Callable[[], float] = random.random, budget: Budget | None = None,
                 max_inflight: int = 8, margin: float = 0.5, trip_s: float = 3600.0) -> None:
        if verify not in ("response", "history"):
            raise ValueError(f"verify must be 'response' or 'history', not {verify!r}")
        self.host = host
        self.recheck_after = recheck_after
        self.verify = verify
        self.idempotency_property = idempotency_property
        self.timeout = timeout
        self.calls = Calls(budget=budget or WindowBudget.memory(clock), token=token, requests=rate_limit[0],
                           per_seconds=rate_limit[1], margin=margin, retry=retry or RetryPolicy(), timeout=timeout,
                           sleep=sleep, jitter=jitter, max_inflight=max_inflight, trip_s=trip_s)
        self.stats = self.calls.stats  # calls sent (retries included), 429s answered, retries made
        self._clock, self._sleep, self._jitter = clock, sleep, jitter
        self._hidden = frozenset({idempotency_property} if idempotency_property else ())
        extra = properties or {}
        self._read_props = {o: list(dict.fromkeys([*DEFAULT_PROPERTIES[o], *extra.get(o, ())]))
                            for o in OBJECTS}
        nums = number_properties or {}
        self._numbers = {o: frozenset([*DEFAULT_NUMBER_PROPERTIES[o], *nums.get(o, ())]) for o in OBJECTS}
        self._seen = Seen()
        # retry=False: urllib3 must not retry on its own; tenacity does, in one place
        client = HubSpot(access_token=token, host=host, retry=False)
        self._batch = client.crm.objects.batch_api

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], *, env: Mapping[str, str],
                      clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                      jitter: Callable[[], float] = random.random, budget: Budget | None = None,
                      trip_s: float = 3600.0) -> "HubSpotAdapter":
        """The adapter for ``crm: {kind: hubspot, ...}``; raises AdapterConfigError on bad settings."""
        s, token = parse_settings(settings, env)
        r = s.retry
        return cls(token=token, host=s.host, rate_limit=(s.rate_limit.requests, s.rate_limit.per_seconds),
                   retry=RetryPolicy(attempts=r.attempts, initial=r.initial, maximum=r.maximum,
                                     jitter=r.jitter, max_retry_after=r.max_retry_after),
                   timeout=s.timeout, recheck_after=s.recheck_after, verify=s.verify,
                   idempotency_property=s.idempotency_property, properties=s.properties,
                   number_properties=s.number_properties, clock=clock, sleep=sleep, jitter=jitter,
                   budget=budget, max_inflight=s.max_inflight, margin=s.rate_limit.margin_s, trip_s=trip_s)

    def __repr__(self) -> str:  # never the token
        return f"HubSpotAdapter(host={self.host!r})"

    # -- the Adapter interface -------------------------------------------------------------------

    def objects(self) -> Sequence[str]:
        return OBJECTS

    def get_many(self, object: str, ids: Sequence[str]) -> dict[str, Record]:
        """Live records among ``ids``; HubSpot ids are digits, so other ids are simply absent."""
        self._check_object(object)
        wanted = list(dict.fromkeys(i for i in ids if isinstance(i, str) and i.isdigit()))
        found = self._read_all(object, wanted)
        return {i: found[i] for i in wanted if i in found}

    def find_created(self, object: str, keys: Sequence[str]) -> dict[str, Record] | None:
        self._check_object(object)
        return find_created(self, object, keys)

    def create_many(self, object: str, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        self._check_object(object)
        return create_many(self, object, list(requests))

    def update_many(self, object: str, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        self._check_object(object)
        requests = list(requests)
        results: list[WriteResult | None] = [None] * len(requests)
        encoded: dict[int, dict[str, str]] = {}
        for i, req in enumerate(requests):
            props = encode(req.fields, self._hidden)
            if isinstance(props, RecordError):
                results[i] = WriteResult("failed", req.id, error=props)
            else:
                encoded[i] = props
        checks = self._check(object, {i: (requests[i].id, requests[i].expected_version) for i in encoded},
                             results, need_existence=False)
        todo = [i for i in encoded if results[i] is None]
        written: dict[int, Any] = {}
        chunks = list(_chunks(todo, self.max_batch))
        answers = self._send([partial(self._call, self._batch.update, object, {"inputs": [
            {"id": requests[i].id, "properties": encoded[i], "objectWriteTraceId": str(i)} for i in chunk]})
            for chunk in chunks])
        for chunk, resp in zip(chunks, answers):
            if isinstance(resp, CRMError) or resp is NOT_SENT:
                self._fail_chunk(results, chunk, requests, resp, answers)
                continue
            by_id = {str(o["id"]): o for o in results_of(resp)}
            failed = self._errors_by_input(resp, {requests[i].id: i for i in chunk}, {str(i): i for i in chunk})
            for i in chunk:
                rid = requests[i].id
                if i in failed:
                    results[i] = WriteResult("failed", rid, error=failed[i])
                elif rid in by_id:
                    written[i] = by_id[rid]
                else:
                    results[i] = WriteResult("failed", rid, error=RecordError(
                        "missing_result", "HubSpot returned neither a result nor an error", ambiguous=True))
        self._finish_updates(object, requests, encoded, checks, written, results)
        return results  # type: ignore[return-value]

    def _send(self, calls: list[Any]) -> list[Any]:
        """Each chunk's answer (or CRMError, or NOT_SENT), in order; when the first chunk failed and
        none was written, that error is raised: the whole call failed, as a single chunk would."""
        answers = self.calls.run(calls)
        if calls and isinstance(answers[0], CRMError) and all(isinstance(a, CRMError) or a is NOT_SENT
                                                               for a in answers):
            raise answers[0]
        return answers

    def delete_many(self, object: str, requests: Sequence[DeleteRequest]) -> list[WriteResult]:
        """Archive records. HubSpot's batch archive answers 204 even for unknown ids, so existence is
        known from this adapter's fresh read or a re-read; a missing record is a failed result."""
        self._check_object(object)
        requests = list(requests)
        results: list[WriteResult | None] = [None] * len(requests)
        checks = self._check(object, {i: (r.id, r.expected_version) for i, r in enumerate(requests)},
                             results, need_existence=True)
        todo = [i for i in range(len(requests)) if results[i] is None]
        chunks = list(_chunks(todo, self.max_batch))
        answers = self._send([partial(self._call, self._batch.archive, object,
                                      {"inputs": [{"id": requests[i].id} for i in chunk]}, allow_empty=True)
                              for chunk in chunks])
        for chunk, answer in zip(chunks, answers):
            if isinstance(answer, CRMError) or answer is NOT_SENT:
                self._fail_chunk(results, chunk, requests, answer, answers)
                continue
            for i in chunk:
                self._seen.drop(object, requests[i].id)
                results[i] = WriteResult("ok", requests[i].id, info={"check": _check_info(checks.get(i))})
        return results  # type: ignore[return-value]

    def close(self) -> None:
        """Drop pooled connections; later calls raise CRMError("closed"). Safe to call twice."""
        self.calls.close()
        pool = getattr(getattr(self._batch.api_client, "rest_client", None), "pool_manager", None)
        if pool is not None:
            pool.clear()

    # -- reading and checking ----------------------------------------------------------------------

    def _read(self, object: str, ids: Sequence[str], *, history: Sequence[str] = (),
              id_property: str | None = None) -> dict[str, Record | Any]:
        """One batch read; missing ids are absent. With ``history`` the raw JSON objects come back."""
        props = self._read_props[object] + [version_property(object)] + list(self._hidden)
        body: dict[str, Any] = {"properties": list(dict.fromkeys([*props, *history])),
                                "propertiesWithHistory": list(history), "inputs": [{"id": i} for i in ids]}
        if id_property:
            body["idProperty"] = id_property
        # no `archived`: false is the default; the SDK would send `False`, which HubSpot refuses
        resp = self._call(self._batch.read, object, body)
        for err in errors_of(resp):
            rec = record_error(err)
            if rec.code != "OBJECT_NOT_FOUND":
                raise CRMError(f"HubSpot could not read {object}: {rec.message}", code=rec.code,
                               status=rec.status, details=rec.details)
        out: dict[str, Any] = {}
        now = self._clock()
        for obj in results_of(resp):
            record = self._record(object, obj)
            self._seen.put(object, record.id, record.version, now)
            out[record.id] = obj if history else record
        return out

    def _check(self, object: str, items: Mapping[int, tuple[str, str | None]],
               results: list[WriteResult | None], *, need_existence: bool) -> dict[int, Check]:
        """Conflicts and missing records become results; returns how each request was checked."""
        now = self._clock()
        checks = {i: plan_check(self._seen, object, rid, expected, now, self.recheck_after,
                                need_existence=need_existence) for i, (rid, expected) in items.items()}
        reread = list(dict.fromkeys(items[i][0] for i, c in checks.items() if c.reread))
        current = self._read_all(object, [r for r in reread if r.isdigit()])
        for i, check in checks.items():
            rid, expected = items[i]
            if check.conflict_with is not None:
                results[i] = _conflict(rid, expected, check.conflict_with, check)
            elif check.reread and rid not in current:
                results[i] = WriteResult("failed", rid, error=RecordError(
                    "OBJECT_NOT_FOUND", f"no {object} record {rid} (deleted or never existed)", status=404))
            elif check.reread and expected is not None and current[rid].version != expected:
                results[i] = _conflict(rid, expected, current[rid].version, check)
        return checks

    def _finish_updates(self, object: str, requests: list[UpdateRequest], encoded: dict[int, dict[str, str]],
                        checks: dict[int, Check], written: dict[int, Any],
                        results: list[WriteResult | None]) -> None:
        """Turn written objects into results, verifying them from the response or the history."""
        now = self._clock()
        verified: dict[int, dict[str, Any]] = {}
        if self.verify == "history" and written:
            verified = self._history(object, requests, encoded, written)
        for i, obj in written.items():
            record = self._record(object, obj)
            info: dict[str, Any] = {"check": _check_info(checks.get(i))}
            echoed = obj.get("properties") or {}
            mismatch = {k: echoed.get(k) for k, v in encoded[i].items()
                        if k in echoed and (echoed.get(k) or "") != v}
            info["verify"] = {"by": self.verify, **({"mismatch": mismatch} if mismatch else {})}
            if i in verified:
                info["verify"].update(verified[i])
            self._seen.put(object, record.id, record.version, now)
            results[i] = WriteResult("ok", requests[i].id, record, info=info)

    def _history(self, object: str, requests: list[UpdateRequest], encoded: dict[int, dict[str, str]],
                 written: dict[int, Any]) -> dict[int, dict[str, Any]]:
        """Read back the history of the written properties and the stamp; report others' writes."""
        vprop = version_property(object)
        out: dict[int, dict[str, Any]] = {}
        order = list(written)
        props = list(dict.fromkeys(p for i in order for p in encoded[i]))
        for chunk in _chunks(order, HISTORY_BATCH):
            try:
                found = self._read(object, [requests[i].id for i in chunk], history=[*props, vprop])
            except CRMError as exc:  # the write happened; only its verification failed
                for i in chunk:
                    out[i] = {"error": exc.message}
                continue
            for i in chunk:
                obj = found.get(requests[i].id)
                if obj is None:
                    out[i] = {"deleted_after_write": True}
                    continue
                ours = self._record(object, written[i]).version
                checked = requests[i].expected_version or self._checked_version(object, requests[i].id)
                seen = history_race(obj.get("propertiesWithHistory") or {}, encoded[i], vprop, checked, ours)
                out[i] = {**seen, "race_detected": bool(seen.get("race"))}
        return out

    def _checked_version(self, object: str, id: str) -> str | None:
        entry = self._seen.get(object, id)
        return entry[0] if entry else None

    # -- calls ---------------------------------------------------------------------------------------

    def _call(self, fn: Callable[..., _T], *args: Any, allow_empty: bool = False, no_blind_retry: bool = False,
              **kwargs: Any) -> _T:
        """One SDK call: see :meth:`crmgate.adapters.hubspot.calls.Calls.call`."""
        return self.calls.call(fn, *args, allow_empty=allow_empty, no_blind_retry=no_blind_retry, **kwargs)

    def _read_all(self, object: str, ids: Sequence[str]) -> dict[str, Record]:
        """Batch reads of ``ids``, several in flight; one failed read fails them all."""
        answers = self.calls.run([partial(self._read, object, chunk) for chunk in _chunks(ids, self.max_batch)])
        first_error(answers)
        return {k: v for found in answers for k, v in found.items()}

    @staticmethod
    def _errors_by_input(resp: Any, by_id: Mapping[str, int], by_trace: Mapping[str, int]) -> dict[int, RecordError]:
        """A 207's ``errors[]`` mapped to input positions by ``context.ids`` or ``objectWriteTraceId``."""
        out: dict[int, RecordError] = {}
        for err in errors_of(resp):
            rec = record_error(err)
            ctx = err.get("context") if isinstance(err.get("context"), Mapping) else {}
            matched = [by_id[k] for k in ctx.get("ids") or [] if k in by_id]
            matched += [by_trace[k] for k in ctx.get("objectWriteTraceId") or [] if k in by_trace]
            for i in dict.fromkeys(matched):
                out[i] = rec
        return out

    def _record(self, object: str, obj: Any) -> Record:
        return to_record(object, obj, numbers=self._numbers[object], hidden=self._hidden)

    def _check_object(self, object: str) -> None:
        if object not in OBJECTS:
            raise NotFoundError(f"unknown HubSpot object {object!r} (contacts, companies, deals)",
                                code="unknown_object", status=404)

    @staticmethod
    def _fail_chunk(results: list[WriteResult | None], chunk: Sequence[int], requests: Sequence[Any],
                    answer: Any, answers: Sequence[Any]) -> None:
        """A failed chunk's records failed (maybe applied); a chunk never sent certainly was not."""
        if isinstance(answer, CRMError):
            error = answer.to_record_error()
        else:
            error = next(a for a in answers if isinstance(a, CRMError)).to_record_error().certain()
        for i in chunk:
            if results[i] is None:
                results[i] = WriteResult("failed", getattr(requests[i], "id", None), error=error)

    @staticmethod
    def _fail_rest(results: list[WriteResult | None], indices: Sequence[int], requests: Sequence[Any],
                   exc: CRMError, *, sent: int) -> None:
        error = exc.to_record_error()  # the first ``sent`` (this chunk) may have landed, the rest not
        for n, i in enumerate(indices):
            if results[i] is None:
                results[i] = WriteResult("failed", getattr(requests[i], "id", None),
                                         error=error if n < sent else error.certain())


def _check_info(check: Check | None) -> dict[str, Any]:
    if check is None:
        return {"by": "none"}
    out: dict[str, Any] = {"by": check.by}
    if check.age is not None:
        out["age_s"] = round(check.age, 3)
    return out


def _conflict(rid: str, expected: str | None, current: str, check: Check) -> WriteResult:
    error = RecordError("PRECONDITION_FAILED", f"{rid} changed since version {expected} (now {current})",
                        status=412, details={"current_version": current, "expected_version": expected})
    return WriteResult("conflict", rid, error=error, info={"check": _check_info(check)})


__all__ = ["HubSpotAdapter", "errors_of", "results_of"]
