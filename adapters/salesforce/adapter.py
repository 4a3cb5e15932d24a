"""The Salesforce adapter, on simple-salesforce: batched, conditional, retried, translated.

Calls (each is one API call; every one goes through :func:`crmgate.adapters.retry.retrying`):

* ``get_many``: sObject Collections *retrieve*, ``POST composite/sobjects/{Obj}`` with up to
  2,000 ids. The fields read are ``crm.fields[Obj]`` or, by default, every writable field from the
  object's describe (fetched once per object per adapter and cached); ``fields=`` narrows them
  to those names plus ``Id`` and ``SystemModstamp`` (:mod:`crmgate.adapters.salesforce.reads`).
* ``create_many``: with ``idempotency_field`` set, Collections *upsert* on that External ID field
  (``PATCH composite/sobjects/{Obj}/{field}``, 200 per call) carrying the request's idempotency key,
  so a retried call can never make a second record; otherwise ``POST composite/sobjects``, never
  retried after an ambiguous failure (5xx, connection lost after sending).
* ``update_many``: one request (or any ``strict`` one: rollback's) is a single-record ``PATCH
  sobjects/{Obj}/{id}`` with ``If-Unmodified-Since`` (412 -> ``conflict``, never retried). Otherwise
  Collections ``PATCH composite/sobjects`` (200 per call), which has no conditional header: the
  check is this adapter's own before-image read at that version at most ``max_check_age`` s
  (default 2) ago (``batch_check: recent``, the default: free), else a retrieve right before the
  write (``batch_check: reread`` always re-reads). A version that moved is a ``conflict``.
* ``delete_many``: Collections ``DELETE composite/sobjects?ids=`` (200 per call) after that check.
* The chunks of one call (writes of 200, retrieves of 2,000) go out up to ``concurrency``
  (default 4) at a time, answers kept in request order; a chunk that fails as a whole fails its
  own records only (:mod:`crmgate.adapters.salesforce.chunks`). Safe to call from threads.

One-second stamps: a before-image stamped in the second of the read's ``Date`` is *unsettled*; the
adapter waits (injected ``sleep``) out that second and re-reads before writing from it.

Retries: 503 (and other 5xx), ``UNABLE_TO_LOCK_ROW`` (whole call, or per record inside a
Collections answer: only the locked records are sent again) and connection errors, with the shared
capped exponential backoff plus jitter, honouring ``Retry-After``; never 412 or validation errors.
``REQUEST_LIMIT_EXCEEDED`` raises :class:`QuotaExhaustedError`; every later call, of every worker sharing the budget, is refused.
"""
from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

import requests
from simple_salesforce import Salesforce

from crmgate.adapters.base import Adapter, CreateRequest, DeleteRequest, Record, UpdateRequest, WriteResult
from crmgate.adapters.errors import (
    CRMError, CRMValidationError, NotFoundError, PreconditionFailedError, RecordError,
    ResponseError,
)
from crmgate.adapters.retry import retrying
from crmgate.adapters.salesforce.chunks import Job, chunks, map_in_order, noting, resilient, send_chunks
from crmgate.adapters.salesforce.errors import Allowance, parse_limit_info, translate
from crmgate.adapters.salesforce.lookup import find_created
from crmgate.adapters.salesforce.reads import SYSTEM_FIELDS, chosen, readable, same_fields, to_record
from crmgate.adapters.salesforce.results import Checks, collection_results, key_value
from crmgate.adapters.salesforce.settings import Credentials, LoopbackSession, Settings, parse_settings
from crmgate.adapters.salesforce.soql import find_candidates as _find_candidates
from crmgate.adapters.salesforce.versions import ReadLog, Seen, http_date, parse_http_date, parse_stamp

_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class SalesforceAdapter(Adapter):
    """A Salesforce org through simple-salesforce. See the module docstring for the strategy.

    ``session`` is the ``requests.Session`` the SDK uses (tests inject one; an ``http://``
    loopback ``instance_url`` gets a session that rewrites the SDK's https URLs). ``sleep`` and
    ``jitter`` feed the retry policy, ``clock`` (UTC datetimes) ages before-images.
    """

    kind = "salesforce"
    max_batch = 200
    max_retrieve = 2000

    def __init__(self, settings: Settings, credentials: Credentials, *, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, jitter: Callable[[], float] = random.random,
                 clock: Callable[[], datetime] | None = None, budget: Any = None, trip_s: float = 3600.0) -> None:
        self.settings = settings
        self.write_lanes = settings.concurrency  # one chunk call in flight per lane, as crm.concurrency says
        self.api_usage: tuple[int, int] | None = None
        self._sleep, self._jitter = sleep, jitter
        self._clock = clock or (lambda: datetime.now(UTC))
        self._reads = ReadLog()
        self._describes: dict[str, dict[str, Any]] = {}
        self._describe_lock = threading.Lock()
        self._created: dict[tuple[str, str], str] = {}  # key -> id, when no idempotency field
        self._allowance = Allowance(budget, settings.instance_url, trip_s)  # shared by workers on ``budget``
        self._local = threading.local()
        self._own_session = session is None
        if session is None:
            netloc = settings.instance_url.split("://", 1)[1]
            session = LoopbackSession(netloc) if settings.loopback else requests.Session()
        session.hooks.setdefault("response", []).append(self._remember_response)
        self._session: requests.Session | None = session
        try:  # the client is built once; password and JWT log in here
            # plain dicts: the SDK's default OrderedDict hook doubles the cost of decoding a retrieve
            self._sf = Salesforce(instance_url=settings.instance_url, version=settings.api_version,
                                  session=session, domain=settings.domain, object_pairs_hook=dict,
                                  **credentials.client_kwargs())
        except Exception as exc:
            raise translate(exc, self._last_response()) from exc

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], *, env: Mapping[str, str],
                      **injected: Any) -> SalesforceAdapter:
        """Validate ``crm:`` settings, read credentials from ``env``; raise AdapterConfigError."""
        parsed = parse_settings(settings)
        return cls(parsed, Credentials.from_env(env, parsed.env_names), **injected)

    # -- the Adapter interface -------------------------------------------------------------------

    idempotent_creates = property(lambda self: bool(self.settings.idempotency_field))  # upsert on the External ID

    def find_created(self, object: str, keys: Sequence[str]) -> dict[str, Record] | None:
        return find_created(self, object, keys, SYSTEM_FIELDS)  # by the External ID: SOQL, see lookup

    def objects(self) -> Sequence[str]:
        return self.settings.objects

    def describe(self, object: str) -> dict[str, Any]:
        """The sObject describe result (cached per adapter)."""
        if not isinstance(object, str) or not _NAME.match(object):
            raise NotFoundError(f"not an sObject name: {object!r}", code="unknown_object", status=404)
        with self._describe_lock:  # threads reading at once must not fetch it twice
            if object not in self._describes:
                body = self._retrying(lambda: self._call("GET", f"sobjects/{object}/describe")[0])
                if not isinstance(body, Mapping) or not isinstance(body.get("fields"), list):
                    raise ResponseError(f"describe {object}: expected an object with a fields list")
                self._describes[object] = dict(body)
            return self._describes[object]

    def get_many(self, object: str, ids: Sequence[str], fields: Collection[str] | None = None) -> dict[str, Record]:
        """The existing records among ``ids``; ``fields``: the business fields wanted (None: every
        readable one). A record holds at least those of them that are set, and always its version."""
        self._check_object(object)
        # ids that cannot be Salesforce ids cannot exist; sending them would fail the whole call
        wanted = list(dict.fromkeys(i for i in ids if isinstance(i, str) and _ID.match(i)))
        found = self._retrieve(object, wanted, fields)
        by15 = {rid[:15]: rec for rid, rec in found.items()}
        out = {}
        for i in wanted:
            rec = found.get(i) if len(i) == 18 else by15.get(i)
            if rec is not None:
                out[i] = rec
        return out

    find_candidates = _find_candidates  # one SOQL query per object (crmgate.adapters.salesforce.soql)

    def create_many(self, object: str, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        self._check_object(object)
        reqs = list(requests)
        results: list[WriteResult | None] = [None] * len(reqs)
        idem = self.settings.idempotency_field
        plain: list[int] = []
        keyed: list[int] = []
        for i, req in enumerate(reqs):
            seen = self._created.get((object, req.idempotency_key)) if req.idempotency_key else None
            if seen is not None:
                results[i] = WriteResult("ok", id=seen, info={"idempotent_replay": True})
            elif idem and req.idempotency_key:
                keyed.append(i)
            else:
                plain.append(i)
        jobs: list[Job] = []
        for chunk in chunks(keyed, self.max_batch):
            records = [{"attributes": {"type": object}, **reqs[i].fields, idem: key_value(reqs[i].idempotency_key)}
                       for i in chunk]
            jobs.append((chunk, partial(self._write_chunk, "PATCH", f"composite/sobjects/{object}/{idem}",
                                        records, [None] * len(chunk))))
        for chunk in chunks(plain, self.max_batch):
            records = [{"attributes": {"type": object}, **reqs[i].fields} for i in chunk]
            jobs.append((chunk, partial(self._write_chunk, "POST", "composite/sobjects", records,
                                        [None] * len(chunk), ambiguous_unsafe=True)))
        for i, res in self._send(jobs, lambda i: None).items():
            results[i] = res
            if res.ok and res.id and reqs[i].idempotency_key and not idem:
                self._created[(object, reqs[i].idempotency_key)] = res.id
        return results  # type: ignore[return-value]

    def update_many(self, object: str, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        self._check_object(object)
        reqs = list(requests)
        if len(reqs) == 1 or any(r.strict and r.expected_version for r in reqs):  # If-Unmodified-Since each
            return map_in_order(partial(self._update_row, object), reqs, self.settings.concurrency)
        results: list[WriteResult | None] = [None] * len(reqs)
        checks = self._check(object, [(i, r.id, r.expected_version) for i, r in enumerate(reqs)])
        for i, res in checks.conflicts.items():
            results[i] = res
        todo = [i for i, res in enumerate(results) if res is None]

        def send(chunk: list[int]) -> list[WriteResult]:
            records = [{"attributes": {"type": object}, **reqs[i].fields, "id": reqs[i].id} for i in chunk]
            sent_at = self._clock()
            got = self._write_chunk("PATCH", "composite/sobjects", records, [reqs[i].id for i in chunk])
            return checks.annotate(chunk, got, sent_at)

        for i, res in self._send([(c, partial(send, c)) for c in chunks(todo, self.max_batch)],
                                 lambda i: reqs[i].id).items():
            results[i] = res
            self._reads.forget(object, reqs[i].id)
        return results  # type: ignore[return-value]

    def delete_many(self, object: str, requests: Sequence[DeleteRequest]) -> list[WriteResult]:
        self._check_object(object)
        reqs = list(requests)
        results: list[WriteResult | None] = [None] * len(reqs)
        checks = self._check(object, [(i, r.id, r.expected_version) for i, r in enumerate(reqs)])
        for i, res in checks.conflicts.items():
            results[i] = res
        todo = [i for i, res in enumerate(results) if res is None]

        def send(chunk: list[int]) -> list[WriteResult]:
            sent_at = self._clock()
            return checks.annotate(chunk, self._delete_chunk([reqs[i].id for i in chunk]), sent_at)

        for i, res in self._send([(c, partial(send, c)) for c in chunks(todo, self.max_batch)],
                                 lambda i: reqs[i].id).items():
            results[i] = res
        return results  # type: ignore[return-value]

    def _send(self, jobs: list[Job], ids: Callable[[int], str | None]) -> dict[int, WriteResult]:
        return send_chunks(jobs, ids, self.settings.concurrency)

    def close(self) -> None:
        if self._session is not None and self._own_session:
            self._session.close()
        self._session = None

    # -- reading ---------------------------------------------------------------------------------

    def read_fields(self, object: str) -> tuple[str, ...]:
        """The most a read asks for: configured, else every writable describe field (system first)."""
        names = self.settings.fields.get(object)
        if names is None:
            names = readable(self.describe(object), self.settings.idempotency_field)
        return tuple(dict.fromkeys((*SYSTEM_FIELDS, *names)))

    def _retrieve(self, object: str, ids: list[str], names: Collection[str] | None = None) -> dict[str, Record]:
        if not ids:
            return {}
        fields = list(chosen(self.read_fields(object), names))
        asked = None if names is None else frozenset(fields) - frozenset(SYSTEM_FIELDS)
        skip = frozenset({*SYSTEM_FIELDS, "attributes", self.settings.idempotency_field})

        def read(chunk: list[str]) -> list[Record]:
            body, response = self._retrying(
                lambda: self._call("POST", f"composite/sobjects/{object}", json={"ids": chunk, "fields": fields}))
            rows = body or []
            if not isinstance(rows, list) or len(rows) > len(chunk):
                raise ResponseError(f"retrieve {object}: expected a list of at most {len(chunk)} records")
            server_date = parse_http_date(response.headers.get("Date")) if response is not None else None
            read_at = self._clock()
            out = []
            for row in rows:
                if row is None:  # an id that does not exist, or was deleted
                    continue
                rec = self._to_record(object, row, skip)
                out.append(rec)
                self._reads.remember(object, rec.id, rec.version, rec.fields, read_at, server_date, asked)
            return out

        parts = map_in_order(read, chunks(ids, self.max_retrieve), self.settings.concurrency)
        return {rec.id: rec for part in parts for rec in part}

    _to_record = staticmethod(to_record)  # soql and lookup build records the same way

    # -- the version check -----------------------------------------------------------------------

    def _check(self, object: str, items: list[tuple[int, str, str | None]]) -> Checks:
        """Conflicts (by request index) among conditional requests, and when each was checked."""
        now = self._clock()
        checks = Checks()
        need: list[tuple[int, str, str, Seen | None]] = []
        for i, rid, expected in items:
            if expected is None:
                continue
            seen = self._reads.get(object, rid)
            fresh = (self.settings.batch_check == "recent" and seen is not None and seen.version == expected
                     and not seen.unsettled and (now - seen.read_at).total_seconds() <= self.settings.max_check_age)
            if fresh:
                checks.checked_at[i] = ("before-image", seen.read_at)  # type: ignore[union-attr]
            else:
                need.append((i, rid, expected, seen))
        if not need:
            return checks
        self._settle([s for _, _, expected, s in need if s is not None and s.unsettled and s.version == expected])
        current = self._retrieve(object, list(dict.fromkeys(rid for _, rid, _, _ in need)))
        reread_at = self._clock()
        conflicts = checks.conflicts
        for i, rid, expected, seen in need:
            rec = current.get(rid)
            checks.checked_at[i] = ("reread", reread_at)
            if rec is None:
                continue  # gone: the write itself reports ENTITY_IS_DELETED
            same_second_edit = (seen is not None and seen.unsettled and seen.version == expected
                                and not same_fields(rec.fields, seen.fields, seen.names))
            if rec.version != expected or same_second_edit:
                conflicts[i] = WriteResult("conflict", id=rid, record=rec, error=RecordError(
                    "STALE_VERSION", f"{object} {rid} changed since version {expected} (now {rec.version})",
                    status=412, details={"expected_version": expected, "current_version": rec.version}))
        return checks

    def _settle(self, unsettled: list[Seen]) -> None:
        """Wait until the second of each unsettled read is over (by the injected clock)."""
        if not unsettled:
            return
        now = self._clock()
        remaining = max(1.0 - (now - s.read_at).total_seconds() for s in unsettled)
        if remaining > 0:
            self._sleep(remaining)

    # -- writing ---------------------------------------------------------------------------------

    def _update_row(self, object: str, req: UpdateRequest) -> WriteResult:
        headers: dict[str, str] = {}
        if req.expected_version is not None:
            stamp = parse_stamp(req.expected_version)
            seen = self._reads.get(object, req.id)
            if stamp is None or (seen is not None and seen.unsettled and seen.version == req.expected_version):
                conflict = self._check(object, [(0, req.id, req.expected_version)]).conflicts.get(0)
                if conflict is not None:
                    return conflict
            if stamp is not None:
                headers["If-Unmodified-Since"] = http_date(stamp)
        blind: list[bool] = []  # an attempt whose answer was lost may have been applied
        patch = partial(self._call, "PATCH", f"sobjects/{object}/{req.id}", json=dict(req.fields), headers=headers)
        try:
            self._retrying(partial(noting, blind, patch))
        except PreconditionFailedError as exc:
            if any(blind[:-1]):  # the 412 may answer our own earlier write: nobody can tell
                return WriteResult("failed", id=req.id, error=replace(exc.to_record_error(), ambiguous=True))
            return WriteResult("conflict", id=req.id, error=exc.to_record_error())
        except (CRMValidationError, NotFoundError) as exc:
            return WriteResult("failed", id=req.id, error=exc.to_record_error())
        self._reads.forget(object, req.id)
        return WriteResult("ok", id=req.id, info={"conditional": "If-Unmodified-Since"} if headers else {})

    def _write_chunk(self, method: str, path: str, records: list[dict[str, Any]], ids: list[str | None],
                     *, ambiguous_unsafe: bool = False) -> list[WriteResult]:
        def send(positions: list[int]) -> list[WriteResult]:
            body, _ = self._call(method, path, json={"allOrNone": False, "records": [records[k] for k in positions]})
            return collection_results(body, [ids[k] for k in positions])
        return self._resilient(send, len(records), ambiguous_unsafe=ambiguous_unsafe)

    def _delete_chunk(self, ids: list[str]) -> list[WriteResult]:
        def send(positions: list[int]) -> list[WriteResult]:
            chosen = [ids[k] for k in positions]
            body, _ = self._call("DELETE", "composite/sobjects", params={"ids": ",".join(chosen), "allOrNone": "false"})
            return collection_results(body, list(chosen))
        return self._resilient(send, len(ids))

    def _resilient(self, send: Callable[[list[int]], list[WriteResult]], n: int, *,
                   ambiguous_unsafe: bool = False) -> list[WriteResult]:
        return resilient(send, n, self._retrying, ambiguous_unsafe=ambiguous_unsafe)

    # -- the HTTP boundary -----------------------------------------------------------------------

    def _retrying(self, fn: Callable[[], Any]) -> Any:
        return retrying(self.settings.retry, sleep=self._sleep, jitter=self._jitter)(fn)

    def _call(self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None,
              headers: Mapping[str, str] | None = None) -> tuple[Any, requests.Response | None]:
        """One HTTP call through the SDK; every failure leaves as an ``crmgate.adapters.errors`` error."""
        self._allowance.check()
        if self._session is None:
            raise CRMError("the Salesforce adapter is closed", code="closed")
        self._local.response = None
        try:
            body = self._sf.restful(path, params=params, method=method, json=json, headers=dict(headers or {}),
                                    timeout=self.settings.timeout)
        except Exception as exc:
            err = translate(exc, self._last_response())
            self._allowance.spent(err)
            raise err from exc
        return body, self._last_response()

    def _remember_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._local.response = response
        usage = parse_limit_info(response.headers.get("Sforce-Limit-Info"))
        if usage is not None:
            self.api_usage = usage

    def _last_response(self) -> requests.Response | None:
        return getattr(self._local, "response", None)

    def _check_object(self, object: str) -> None:
        if object not in self.settings.objects:
            raise NotFoundError(f"unknown object {object!r} (configured: {list(self.settings.objects)})",
                                code="unknown_object", status=404)
