"""A loopback fake of HubSpot's CRM v3 objects API, for tests and benchmarks (127.0.0.1 only).

Follows the documented behaviour crmgate relies on (``shared/notes/crm-apis.md``):

* ``/crm/v3/objects/{contacts|companies|deals}``: basic get/create/update/archive and
  ``batch/read|create|update|upsert|archive`` with at most 100 inputs (50 when
  ``propertiesWithHistory`` is asked for); 207 with ``errors[]`` on partial failure (each error's
  ``context`` names ``ids`` or ``objectWriteTraceId``); batch create reports per input only when every
  input carries an ``objectWriteTraceId``, otherwise one bad input fails the whole call.
* Query parameters as HubSpot's published spec declares them, per endpoint (batch read takes only
  a boolean ``archived``, spelled ``true``/``false``); any other is a 400 ``VALIDATION_ERROR``.
* Error bodies ``{status, message, correlationId, category, errors, context}``; 404 for unknown ids;
  409 ``OBJECT_ALREADY_EXISTS`` for a duplicate contact ``email`` or any unique property
  (``crmgate_idempotency_key`` is defined as unique on every object); unknown properties are
  ``PROPERTY_DOESNT_EXIST``; number properties and emails are validated.
* ``hs_lastmodifieddate`` (``lastmodifieddate`` on contacts) moves on every write, strictly
  increasing per record even on a frozen clock; every write adds property history entries
  (``value, timestamp, sourceType, sourceId``).
* A rolling ``requests``/``per_seconds`` window (190/10 s) answers 429 with ``policyName``
  ``TEN_SECONDLY_ROLLING`` and ``Retry-After``; an optional daily allowance answers 429 ``DAILY``;
  ``X-HubSpot-RateLimit-*`` headers on every response. Rejected requests do not use the window.
* Faults (:meth:`FakeHubSpot.inject`), latency, a person's edit (:meth:`FakeHubSpot.edit`), a hook
  run just before a matching request (:meth:`FakeHubSpot.before_next`) and a call log (``calls``).

``clock`` (epoch seconds) is injectable; :class:`ManualClock` can drive both the fake and the
adapter's limiter, so rate-limit tests never wait.
"""
from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

VERSION_PROP = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate", "deals": "hs_lastmodifieddate"}
READ_ONLY = {"hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate"}
KNOWN = {
    "contacts": {"email", "firstname", "lastname", "phone", "mobilephone", "company", "jobtitle", "website",
                 "address", "city", "state", "zip", "country", "lifecyclestage", "hs_lead_status",
                 "hubspot_owner_id", "industry", "annualrevenue", "notes"},
    "companies": {"name", "domain", "website", "industry", "phone", "address", "city", "state", "zip", "country",
                  "numberofemployees", "annualrevenue", "description", "lifecyclestage", "type", "hubspot_owner_id"},
    "deals": {"dealname", "dealstage", "pipeline", "amount", "closedate", "dealtype", "description",
              "hubspot_owner_id", "hs_priority", "hs_forecast_category", "hs_next_step", "hs_deal_stage_probability"},
}
NUMBERS = {"annualrevenue", "numberofemployees", "amount", "hs_deal_stage_probability"}
UNIQUE = {"contacts": {"email"}, "companies": set(), "deals": set()}
KEY_PROP = "crmgate_idempotency_key"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class ManualClock:
    """Epoch seconds that move only when told; ``sleep`` advances it and records the wait."""

    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Call:
    method: str
    path: str
    status: int
    inputs: int
    at: float
    query: str = ""  # the raw query string, for tests of what the adapter sends


@dataclass
class Fault:
    match: str
    status: int
    times: int
    body: dict[str, Any] | None
    headers: dict[str, str]
    after_apply: bool
    drop: bool
    after: int = 0


@dataclass
class _Rec:
    object: str
    id: str
    props: dict[str, str]
    created: int
    updated: int
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class HubSpotError(Exception):
    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.category, self.message, self.extra = status, category, message, extra


class FakeHubSpot:
    """The fake portal and its HTTP server. Use as a context manager; ``url`` is its host."""

    def __init__(self, *, token: str = "pat-test-token", clock: Callable[[], float] = time.time,
                 rate_limit: tuple[int, float] | None = (190, 10.0), daily_limit: int | None = None,
                 latency: float = 0.0, app_id: str = "crmgate-app") -> None:
        self.token, self.clock, self.rate_limit, self.daily_limit = token, clock, rate_limit, daily_limit
        self.latency, self.app_id = latency, app_id
        self.calls: list[Call] = []
        self.echo_trace = True  # False: batch-create results omit objectWriteTraceId (the spec allows it)
        self.searches: list[dict[str, Any]] = []  # search request bodies, in order
        self.search_times: list[float] = []
        self.known = {o: set(p) | {KEY_PROP} for o, p in KNOWN.items()}
        self.unique = {o: set(p) | {KEY_PROP} for o, p in UNIQUE.items()}
        self._recs: dict[str, dict[str, _Rec]] = {o: {} for o in KNOWN}
        self._archived: dict[str, dict[str, _Rec]] = {o: {} for o in KNOWN}
        self._next_id = 1000
        self._window: deque[float] = deque()
        self._daily_used = 0
        self._faults: list[Fault] = []
        self._rates: list[tuple[str, float, Any, int, tuple[str, ...]]] = []
        self._hooks: list[tuple[str, Callable[["FakeHubSpot"], None]]] = []
        self._lock = threading.RLock()
        self._corr = 0
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> "FakeHubSpot":
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeHubSpot":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls -----------------------------------------------------------------------------
    def inject(self, status: int, *, match: str = "", times: int = 1, body: dict[str, Any] | None = None,
               headers: Mapping[str, str] | None = None, after_apply: bool = False, drop: bool = False,
               after: int = 0) -> None:
        """Answer the next ``times`` requests whose ``"METHOD /path"`` contains ``match`` with ``status``
        (``body`` defaults to a HubSpot error body); ``after_apply``: the request is carried out first;
        ``drop``: the connection is closed with no answer; ``after``: let that many matches pass first."""
        self._faults.append(Fault(match, status, times, body, dict(headers or {}), after_apply, drop, after))

    def fault_rate(self, match: str, rate: float, *, seed: int = 0, status: int = 503,
                   modes: tuple[str, ...] = ("before",)) -> None:
        """Fail a seeded random share ``rate`` of matching requests, each in a seeded choice of
        ``modes``: ``before`` (answer ``status``), ``after`` (apply, then ``status``), ``lose``
        (apply, then drop the connection)."""
        import random

        self._rates.append((match, rate, random.Random(seed), status, tuple(modes)))

    def _random_fault(self, tag: str) -> Fault | None:
        for match, rate, rng, status, modes in self._rates:
            if match in tag and rng.random() < rate:
                mode = rng.choice(modes)
                return Fault(match, status, 1, None, {}, mode != "before", mode == "lose")
        return None

    def before_next(self, match: str, hook: Callable[["FakeHubSpot"], None]) -> None:
        """Run ``hook(fake)`` just before the next request matching ``match`` is handled."""
        self._hooks.append((match, hook))

    def define_property(self, object: str, name: str, *, unique: bool = False) -> None:
        self.known[object].add(name)
        if unique:
            self.unique[object].add(name)

    def seed(self, object: str, props: Mapping[str, str]) -> str:
        """Create a record directly (no API call, not logged); returns its id."""
        with self._lock:
            return self._create(object, {k: str(v) for k, v in props.items()}, "IMPORT").id

    def edit(self, object: str, id: str, props: Mapping[str, str], *, source: str = "CRM_UI") -> None:
        """A person editing the record in HubSpot's UI."""
        with self._lock:
            self._write(self._recs[object][id], {k: str(v) for k, v in props.items()}, source)

    def archive(self, object: str, id: str) -> None:
        """A person deleting the record in HubSpot's UI (it moves to the recycle bin)."""
        with self._lock:
            self._archived[object][id] = self._recs[object].pop(id)

    def record(self, object: str, id: str) -> dict[str, str] | None:
        with self._lock:
            rec = self._recs[object].get(id)
            return dict(rec.props) if rec else None

    def count(self, match: str = "", *, status: int | None = None) -> int:
        return sum(1 for c in self.calls if match in f"{c.method} {c.path}" and (status is None or c.status == status))

    # -- the state -----------------------------------------------------------------------------------
    def _stamp(self, previous: int | None) -> int:
        ms = int(self.clock() * 1000)
        return ms if previous is None or ms > previous else previous + 1

    def _write(self, rec: _Rec, props: Mapping[str, str], source: str) -> None:
        rec.updated = self._stamp(rec.updated)
        for name, value in props.items():
            if value in ("", None):
                rec.props.pop(name, None)
            else:
                rec.props[name] = str(value)
            rec.history.setdefault(name, []).insert(0, self._hist(value or "", rec.updated, source))
        vprop = VERSION_PROP[rec.object]
        rec.props[vprop] = iso(rec.updated)
        rec.history.setdefault(vprop, []).insert(0, self._hist(iso(rec.updated), rec.updated, source))

    def _hist(self, value: str, ms: int, source: str) -> dict[str, Any]:
        return {"value": value, "timestamp": iso(ms), "sourceType": source,
                "sourceId": self.app_id if source == "INTEGRATION" else "userId:1"}

    def _create(self, object: str, props: Mapping[str, str], source: str) -> _Rec:
        self._next_id += 1
        now = self._stamp(None)
        rec = _Rec(object, str(self._next_id), {"hs_object_id": str(self._next_id), "createdate": iso(now)}, now, now - 1)
        self._write(rec, props, source)
        self._recs[object][rec.id] = rec
        return rec

    def _find_unique(self, object: str, prop: str, value: str) -> _Rec | None:
        for rec in self._recs[object].values():
            if rec.props.get(prop, "").lower() == value.lower():
                return rec
        return None

    def _validate(self, object: str, props: Any, *, pending: Mapping[tuple[str, str], str] = {},
                  current: _Rec | None = None) -> None:
        if not isinstance(props, dict):
            raise HubSpotError(400, "VALIDATION_ERROR", "properties must be an object")
        for name, value in props.items():
            if name in READ_ONLY:
                raise HubSpotError(400, "VALIDATION_ERROR", f'Property "{name}" is read-only',
                                   errors=[{"message": f"{name} is read-only", "code": "READ_ONLY_VALUE",
                                            "context": {"propertyName": [name]}}])
            if name not in self.known[object]:
                raise HubSpotError(400, "VALIDATION_ERROR", f'Property "{name}" does not exist',
                                   errors=[{"message": f'Property "{name}" does not exist',
                                            "code": "PROPERTY_DOESNT_EXIST", "context": {"propertyName": [name]}}])
            text = "" if value is None else str(value)
            if name in NUMBERS and text:
                try:
                    float(text)
                except ValueError:
                    raise HubSpotError(400, "VALIDATION_ERROR", f"{text!r} is not a valid number for {name}",
                                       errors=[{"message": "not a number", "code": "INVALID_DECIMAL",
                                                "context": {"propertyName": [name]}}]) from None
            if name == "email" and text and ("@" not in text or text.startswith("@") or " " in text):
                raise HubSpotError(400, "VALIDATION_ERROR", f"Email address {text} is invalid",
                                   errors=[{"message": "invalid email", "code": "INVALID_EMAIL",
                                            "context": {"propertyName": [name]}}])
            if name in self.unique[object] and text:
                other = self._find_unique(object, name, text)
                seen = pending.get((name, text.lower()))
                if (other is not None and other is not current) or seen is not None:
                    existing = other.id if other is not None else seen
                    label = "Contact" if object == "contacts" else f"A {object[:-1]} with {name}={text}"
                    raise HubSpotError(409, "OBJECT_ALREADY_EXISTS", f"{label} already exists. Existing ID: {existing}")

    # -- request handling ---------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any, dict[str, str]]:
        """One request in; (status, JSON-able body or None, extra headers) out. Drops raise ConnectionAbortedError."""
        if self.latency:
            time.sleep(self.latency)  # real latency for benchmarks; tests leave it at 0
        with self._lock:
            url = urlsplit(raw_path)
            tag = f"{method} {url.path}"
            payload: Any = None
            try:
                payload = json.loads(body) if body else None
            except ValueError:
                pass
            inputs = len(payload.get("inputs") or []) if isinstance(payload, dict) else 0
            try:
                status, out, extra = self._answer(method, url, tag, headers, payload)
            except ConnectionAbortedError:
                self.calls.append(Call(method, url.path, 0, inputs, self.clock(), url.query))  # 0: no answer sent
                raise
            self.calls.append(Call(method, url.path, status, inputs, self.clock(), url.query))
            return status, out, {**self._rate_headers(), **extra}

    def _answer(self, method: str, url: Any, tag: str, headers: Mapping[str, str],
                payload: Any) -> tuple[int, Any, dict[str, str]]:
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, self._error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found."), {}
        limited = self._rate_check()
        if limited is not None:
            return limited
        for match, hook in list(self._hooks):
            if match in tag:
                self._hooks.remove((match, hook))
                hook(self)
        fault = next((f for f in self._faults if f.match in tag), None) or self._random_fault(tag)
        if fault is not None and fault.after > 0:
            fault.after -= 1
            fault = None
        elif fault is not None:
            fault.times -= 1
            if fault.times <= 0 and fault in self._faults:
                self._faults.remove(fault)
        if fault is not None and not fault.after_apply:
            return self._fault(fault)
        try:
            status, out = self._route(method, url, payload)
        except HubSpotError as exc:
            status, out = exc.status, self._error(exc.status, exc.category, exc.message, **exc.extra)
        if fault is not None:
            return self._fault(fault)
        return status, out, {}

    def _fault(self, fault: Fault) -> tuple[int, Any, dict[str, str]]:
        if fault.drop:
            raise ConnectionAbortedError("fault: connection dropped")
        body = fault.body if fault.body is not None else self._error(
            fault.status, "RATE_LIMITS" if fault.status == 429 else "INTERNAL_ERROR" if fault.status >= 500
            else "VALIDATION_ERROR", f"injected fault {fault.status}")
        return fault.status, body, dict(fault.headers)

    def _rate_check(self) -> tuple[int, Any, dict[str, str]] | None:
        now = self.clock()
        if self.daily_limit is not None and self._daily_used >= self.daily_limit:
            return 429, self._error(429, "RATE_LIMITS", "You have reached your daily limit.",
                                    errorType="RATE_LIMIT", policyName="DAILY"), {}
        if self.rate_limit is not None:
            limit, per = self.rate_limit
            while self._window and self._window[0] <= now - per:
                self._window.popleft()
            if len(self._window) >= limit:
                wait = self._window[0] + per - now
                return 429, self._error(429, "RATE_LIMITS", "You have reached your secondly limit.",
                                        errorType="RATE_LIMIT", policyName="TEN_SECONDLY_ROLLING"), {
                    "Retry-After": str(max(1, math.ceil(wait)))}
            self._window.append(now)
        self._daily_used += 1
        return None

    def _rate_headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.rate_limit is not None:
            limit, per = self.rate_limit
            out = {"X-HubSpot-RateLimit-Max": str(limit),
                   "X-HubSpot-RateLimit-Remaining": str(max(0, limit - len(self._window))),
                   "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(per * 1000))}
        if self.daily_limit is not None:
            out["X-HubSpot-RateLimit-Daily"] = str(self.daily_limit)
            out["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, self.daily_limit - self._daily_used))
        return out

    def _error(self, status: int, category: str, message: str, **extra: Any) -> dict[str, Any]:
        self._corr += 1
        return {"status": "error", "message": message, "correlationId": f"corr-{self._corr:06d}",
                "category": category, **extra}

    def _route(self, method: str, url: Any, payload: Any) -> tuple[int, Any]:
        parts = url.path.strip("/").split("/")
        if parts[:3] != ["crm", "v3", "objects"] or len(parts) < 4:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"no route {url.path}")
        object = parts[3]
        if object not in self._recs:
            raise HubSpotError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object}")
        from tests.fakes._hubspot_routes import batch, check_query, single  # the endpoint bodies, split for size

        raw = parse_qs(url.query, keep_blank_values=True)
        check_query(method, parts, raw)
        query = {k: v[-1] for k, v in raw.items()}

        if len(parts) == 5 and parts[4] == "search" and method == "POST":
            from tests.fakes._hubspot_search import search
            return search(self, object, payload)
        if len(parts) == 6 and parts[4] == "batch" and method == "POST":
            return batch(self, object, parts[5], payload)
        return single(self, method, object, parts[4] if len(parts) == 5 else None, query, payload)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeHubSpot

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle plus delayed ACKs add ~40 ms
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, out, extra = self.fake.handle(self.command, self.path, headers, body)
        except ConnectionAbortedError:
            self.close_connection = True
            return
        data = b"" if out is None else json.dumps(out).encode("utf-8")
        self.send_response(status)
        for key, value in extra.items():
            self.send_header(key, value)
        if out is not None:
            self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve
