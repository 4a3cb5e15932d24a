"""A loopback fake of the Salesforce REST API (plain HTTP on 127.0.0.1), for tests and benchmarks.

It follows the documented behaviour crmgate relies on (``/work/shared/notes/crm-apis.md``):

* sObject rows ``GET/PATCH/DELETE /services/data/vXX.X/sobjects/{Obj}/{id}``, create ``POST
  sobjects/{Obj}``; ``PATCH`` honours ``If-Unmodified-Since`` (412 when the record's
  ``SystemModstamp`` is later, compared at one-second resolution, as Salesforce does).
* sObject Collections: create ``POST``, update ``PATCH``, delete ``DELETE ?ids=`` on
  ``composite/sobjects`` (at most 200 records; per-record results in request order; ``allOrNone``),
  upsert ``PATCH composite/sobjects/{Obj}/{ExtIdField}`` (results carry ``created``), retrieve
  ``POST composite/sobjects/{Obj}`` with ``{"ids", "fields"}`` (at most 2,000; ``null`` for ids
  that do not exist or were deleted); ``GET query?q=SELECT ... FROM Obj WHERE Field IN (...)``.
* ``GET sobjects/{Obj}/describe`` from real describe metadata (``tests/salesforce/data``).
* Errors as ``[{"errorCode", "message", "fields"}]`` (Collections: ``statusCode``):
  ``REQUIRED_FIELD_MISSING``, ``INVALID_FIELD``, ``INVALID_FIELD_FOR_INSERT_UPDATE``,
  ``STRING_TOO_LONG``, ``FIELD_CUSTOM_VALIDATION_EXCEPTION`` (rules added with
  :meth:`SalesforceFake.add_validation_rule`), ``ENTITY_IS_DELETED``, ``MALFORMED_ID``,
  ``INVALID_SESSION_ID`` (401); ``Sforce-Limit-Info`` and ``Date`` on every answer; 403
  ``REQUEST_LIMIT_EXCEEDED`` once ``api_limit`` calls are spent.
* Query parameters as documented (``ids`` and boolean ``allOrNone`` on Collections delete, ``fields``
  on a row read); any other, or a boolean spelled other than ``true``/``false``, is a 400.
* ``SystemModstamp`` has one-second resolution (``2026-11-22T09:00:00.000+0000``) from ``clock``.

Test hooks (never by patching the adapter): :attr:`calls` (the call log), :meth:`fail` (a status
and errorCode on the next matching calls, a dropped connection, or per-record codes),
:meth:`error_rate`, :attr:`latency`, :meth:`after_call` (run code after a call is answered, e.g.
a person's edit between a before-image and a write), :meth:`edit` / ``POST /_fake/edit/{Obj}/{id}``
(a person's edit in the UI), :meth:`seed` (records that already exist).
"""
from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from tests.fakes import _soql

DATA = Path(__file__).resolve().parent.parent / "salesforce" / "data"
SESSION_ID = "00Dfake!session"
USER_ID = "005000000000001AAA"
PERSON_ID = "005000000000002AAA"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_STRINGY = {"string", "textarea", "phone", "url", "email", "picklist", "combobox", "multipicklist", "encryptedstring"}
_NUMERIC = {"double", "currency", "percent", "int", "long"}


#: the query parameters each call takes, as documented, with their type (``bool``: ``true``/``false``)
QUERY_PARAMS: dict[str, dict[str, str]] = {
    "collections.delete": {"ids": "list", "allOrNone": "bool"},
    "row.get": {"fields": "list"},
    "query": {"q": "text"},
}


def _check_query(kind: str, query: Mapping[str, list[str]]) -> None:
    """Refuse an undocumented or ill-typed query parameter, so a regression in what the adapter sends
    fails the tests (400 with Salesforce's error list; the errorCode is the fake's choice)."""
    allowed = QUERY_PARAMS.get(kind, {})
    for name, values in query.items():
        if name not in allowed:
            raise _Reply(400, "INVALID_PARAMETER_VALUE", f"Unknown query parameter: {name}")
        if len(values) != 1:
            raise _Reply(400, "INVALID_PARAMETER_VALUE", f"Query parameter {name} given {len(values)} times")
        if allowed[name] == "bool" and values[0] not in ("true", "false"):
            raise _Reply(400, "INVALID_PARAMETER_VALUE", f"Cannot deserialize value of type boolean "
                                                         f"from {values[0]!r} for {name}")
        if allowed[name] == "list" and not all(values[0].split(",")):
            raise _Reply(400, "INVALID_PARAMETER_VALUE", f"Query parameter {name} has an empty item")
    if kind == "query" and not query.get("q", [""])[0]:
        raise _Reply(400, "MALFORMED_QUERY", "Required query parameter q is missing")
    if kind == "collections.delete" and "ids" not in query:
        raise _Reply(400, "INVALID_PARAMETER_VALUE", "Required query parameter ids is missing")


class _Reply(Exception):
    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or []


@dataclass
class Call:
    kind: str  # retrieve | describe | row.get | row.create | row.update | row.delete | collections.*
    method: str
    path: str
    records: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    run: Any = field(default=None, repr=False, compare=False)


@dataclass
class _Fault:
    kind: str
    status: int
    code: str
    message: str
    times: int
    after: int
    retry_after: str | None
    drop: bool
    lose_reply: bool
    record_codes: dict[str, str] | None  # record id (or "#index") -> errorCode, per record


@dataclass
class _Row:
    object: str
    id: str
    fields: dict[str, Any]
    created: datetime
    stamp: datetime
    modified_by: str = USER_ID
    deleted: bool = False


def sf_id(prefix: str, n: int) -> str:
    base = f"{prefix}{n:012d}"
    return base + "".join(
        _CHECKSUM[sum(1 << i for i, ch in enumerate(base[s:s + 5]) if "A" <= ch <= "Z")] for s in range(0, 15, 5))


def stamp_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class SalesforceFake:
    """The fake org. Use as a context manager; :attr:`url` is ``http://127.0.0.1:PORT``."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None, extra_fields: Mapping[str, Mapping[str, Any]] | None = None,
                 api_limit: int = 100_000, latency: float = 0.0, api_version: str = "59.0") -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.latency = latency
        self.api_limit = api_limit
        self.api_version = api_version
        self.calls: list[Call] = []
        self.queries: list[str] = []  # SOQL statements received, in order
        self.rows: dict[str, _Row] = {}
        self.describes = self._load_describes(extra_fields or {})
        self._fields = {o: {f["name"]: f for f in d["fields"]} for o, d in self.describes.items()}
        self._counters = {o: 0 for o in self.describes}
        self._faults: list[_Fault] = []
        self._rates: dict[str, tuple[float, int, str, random.Random, tuple[str, ...]]] = {}
        self._hooks: list[list[Any]] = []
        self._rules: list[tuple[str, Callable[[dict[str, Any]], bool], str, list[str]]] = []
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> SalesforceFake:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test hooks -------------------------------------------------------------------------------
    def kinds(self) -> list[str]:
        """The call log as kinds, e.g. ``["retrieve", "collections.update"]``."""
        return [c.kind for c in self.calls]

    def fail(self, kind: str, *, status: int = 503, code: str = "SERVER_UNAVAILABLE", message: str | None = None,
             times: int = 1, after: int = 0, retry_after: str | None = None, drop: bool = False,
             lose_reply: bool = False, records: Mapping[str, str] | None = None) -> None:
        """Fail the next ``times`` calls of ``kind`` (after letting ``after`` pass): answer ``status``
        with ``code`` (and ``Retry-After``), or ``drop`` the connection unanswered, or, with
        ``records`` ({id or "#index": errorCode}), fail just those records of a Collections call, or
        ``lose_reply``: carry the call out, then drop the connection (the client cannot know)."""
        self._faults.append(_Fault(kind, status, code, message or f"fake {code}", times, after, retry_after,
                                   drop, lose_reply, dict(records) if records else None))

    def error_rate(self, kind: str, rate: float, *, status: int = 503, code: str = "SERVER_UNAVAILABLE",
                   seed: int = 0, modes: tuple[str, ...] = ("before",)) -> None:
        """Fail a seeded random share ``rate`` of the calls of ``kind``, each in a seeded choice of
        ``modes``: ``before`` (answer ``status`` without doing anything), ``after`` (carry the call
        out, then answer ``status``: a 5xx after apply), ``lose`` (carry it out, drop the connection)."""
        self._rates[kind] = (rate, status, code, random.Random(seed), tuple(modes))

    def after_call(self, kind: str, action: Callable[[], Any], *, times: int = 1) -> None:
        """Run ``action`` after the next ``times`` calls of ``kind`` are computed (before the reply)."""
        self._hooks.append([kind, action, times])

    def add_validation_rule(self, object: str, failing: Callable[[dict[str, Any]], bool], message: str,
                            fields: list[str] | None = None) -> None:
        """A custom validation rule: records for which ``failing(record)`` holds are refused."""
        self._rules.append((object, failing, message, list(fields or [])))

    def seed(self, object: str, fields: Mapping[str, Any]) -> str:
        """A record that already exists (not an API call, not validated)."""
        with self._lock:
            row = self._new_row(object, dict(fields))
            return row.id

    def edit(self, object: str, id: str, fields: Mapping[str, Any], *, user: str = PERSON_ID) -> None:
        """A person's edit in the Salesforce UI: validated, stamped, not in :attr:`calls`."""
        with self._lock:
            row = self._live(object, id)
            self._validate(object, dict(fields), creating=False, row=row)
            self._apply(row, dict(fields), user)

    def record(self, id: str) -> dict[str, Any] | None:
        row = self.rows.get(id)
        return None if row is None or row.deleted else dict(row.fields)

    # -- the store --------------------------------------------------------------------------------
    def _load_describes(self, extra: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        out = {}
        for path in sorted(DATA.glob("describe_*.json")):
            d = json.loads(path.read_text(encoding="utf-8"))
            for name, spec in extra.items():
                d["fields"].append({"name": name, "label": name, "type": "string", "length": 80, "nillable": True,
                                    "createable": True, "updateable": True, "defaultedOnCreate": False,
                                    "externalId": False, "unique": False, "picklistValues": [], **spec})
            out[d["name"]] = d
        return out

    def _now(self) -> datetime:
        return self.clock().astimezone(UTC).replace(microsecond=0)

    def _new_row(self, object: str, fields: dict[str, Any], user: str = USER_ID) -> _Row:
        self._counters[object] += 1
        rid = sf_id(self.describes[object]["keyPrefix"], self._counters[object])
        defaults: dict[str, Any] = {}
        for f in self.describes[object]["fields"]:
            if f["createable"] and f["defaultedOnCreate"]:
                if f["name"] == "OwnerId":
                    defaults["OwnerId"] = user
                elif f["type"] == "boolean":
                    defaults[f["name"]] = False
                elif f["type"] == "picklist":
                    default = next((p["value"] for p in f["picklistValues"] if p["defaultValue"]), None)
                    if default is not None:
                        defaults[f["name"]] = default
        now = self._now()
        row = _Row(object, rid, {**defaults, **{k: v for k, v in fields.items() if v is not None}}, now, now, user)
        self.rows[rid] = row
        return row

    def _apply(self, row: _Row, fields: dict[str, Any], user: str) -> None:
        for name, value in fields.items():
            if value is None:
                row.fields.pop(name, None)
            else:
                row.fields[name] = value
        row.stamp, row.modified_by = self._now(), user

    def _live(self, object: str, id: Any) -> _Row:
        if not isinstance(id, str) or len(id) not in (15, 18) or not id.isalnum():
            raise _Reply(400, "MALFORMED_ID", f"malformed id {id!r}", ["Id"])
        row = self.rows.get(id) or next((r for r in self.rows.values() if r.id[:15] == id), None)
        if row is None or row.object != object:
            raise _Reply(404, "NOT_FOUND", "The requested resource does not exist")
        if row.deleted:
            raise _Reply(404, "ENTITY_IS_DELETED", "entity is deleted")
        return row

    def _validate(self, object: str, fields: dict[str, Any], *, creating: bool, row: _Row | None = None) -> None:
        specs = self._fields[object]
        for name, value in fields.items():
            spec = specs.get(name)
            if spec is None:
                raise _Reply(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {object}", [name])
            if not (spec["createable"] if creating else spec["updateable"]):
                verb = "create" if creating else "update"
                raise _Reply(400, "INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to {verb} fields: {name}", [name])
            if value is None:
                continue
            if isinstance(value, (dict, list)) or (spec["type"] in _NUMERIC and (isinstance(value, bool) or not isinstance(value, (int, float)))):
                raise _Reply(400, "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type", [name])
            if spec["type"] in _STRINGY and isinstance(value, str) and spec.get("length") and len(value) > spec["length"]:
                raise _Reply(400, "STRING_TOO_LONG", f"{name}: data value too large (max length={spec['length']})", [name])
            if spec["type"] == "picklist" and spec.get("restrictedPicklist") and value not in {
                    p["value"] for p in spec["picklistValues"] if p["active"]}:
                raise _Reply(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", f"{name}: bad value for restricted picklist field: {value}", [name])
        after = {**(row.fields if row else {}), **fields}
        missing = [f["name"] for f in self.describes[object]["fields"]
                   if f["createable"] and not f["nillable"] and not f["defaultedOnCreate"] and f["type"] != "boolean"
                   and (creating or f["name"] in fields) and after.get(f["name"]) in (None, "")]
        if missing:
            raise _Reply(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
        for obj, failing, message, rule_fields in self._rules:
            if obj == object and failing(after):
                raise _Reply(400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", message, rule_fields)

    # -- the API ----------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str], body: Any
               ) -> tuple[int, Any, dict[str, str]]:
        """One API call: (status, JSON body or None, extra headers). Runs under the lock."""
        prefix = f"/services/data/v{self.api_version}/"
        if path.startswith("/_fake/edit/"):
            _, _, _, object, rid = path.split("/", 4)
            self.edit(object, rid, body)
            return 204, None, {}
        if headers.get("Authorization") != f"Bearer {SESSION_ID}":
            raise _Reply(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if not path.startswith(prefix):
            raise _Reply(404, "NOT_FOUND", "The requested resource does not exist")
        parts = path[len(prefix):].strip("/").split("/")
        kind, call = self._route(method, parts, query, body, headers)
        _check_query(kind, query)
        self.calls.append(call)
        if len(self.calls) > self.api_limit:
            raise _Reply(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        fault = self._take_fault(kind)
        if fault is not None and fault.record_codes is None and not fault.lose_reply:
            if fault.drop:
                raise ConnectionAbortedError("fake: connection dropped")
            raise _Reply(fault.status, fault.code, fault.message) if fault.retry_after is None else \
                _ReplyAfter(fault.status, fault.code, fault.message, fault.retry_after)
        rate = self._rates.get(kind)
        mode = rate[3].choice(rate[4]) if rate is not None and rate[3].random() < rate[0] else None
        if mode == "before":
            raise _Reply(rate[1], rate[2], f"fake random {rate[2]}")  # type: ignore[index]
        status, out = call.run(fault.record_codes if fault else None)
        if mode == "after":
            raise _Reply(rate[1], rate[2], f"fake random {rate[2]} after apply")  # type: ignore[index]
        if mode == "lose":
            raise ConnectionAbortedError("fake: applied, then the connection dropped")
        if fault is not None and fault.lose_reply:
            raise ConnectionAbortedError("fake: applied, then the connection dropped")
        for hook in list(self._hooks):
            if hook[0] == kind:
                hook[1]()
                hook[2] -= 1
                if hook[2] <= 0:
                    self._hooks.remove(hook)
        return status, out, {}

    def _take_fault(self, kind: str) -> _Fault | None:
        for fault in self._faults:
            if fault.kind == kind:
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _route(self, method: str, parts: list[str], query: dict[str, list[str]], body: Any,
               headers: Mapping[str, str]) -> tuple[str, Call]:
        path = "/".join(parts)
        seen = {k: v for k, v in headers.items() if k.lower() == "if-unmodified-since"}

        def call(kind: str, n: int, run: Callable[[dict[str, str] | None], tuple[int, Any]]) -> tuple[str, Call]:
            return kind, Call(kind, method, path, n, dict(seen), run)

        if parts[:2] == ["composite", "sobjects"]:
            records = body.get("records") if isinstance(body, dict) else None
            all_or_none = bool(body.get("allOrNone")) if isinstance(body, dict) else \
                query.get("allOrNone", ["false"])[0] == "true"
            if len(parts) == 2 and method == "DELETE":
                ids = [i for i in query.get("ids", [""])[0].split(",") if i]
                return call("collections.delete", len(ids), lambda rc: self._collection(
                    [{"id": i} for i in ids], all_or_none, 200, rc, lambda r, _i: self._delete_one(r["id"])))
            if len(parts) == 2 and method in ("POST", "PATCH") and isinstance(records, list):
                creating = method == "POST"
                one = self._create_one if creating else self._update_one
                return call("collections.create" if creating else "collections.update", len(records),
                            lambda rc: self._collection(records, all_or_none, 200, rc, one))
            if len(parts) == 3 and method == "POST" and isinstance(body, dict):
                return call("retrieve", len(body.get("ids") or []), lambda rc: self._retrieve(parts[2], body))
            if len(parts) == 4 and method == "PATCH" and isinstance(records, list):
                return call("collections.upsert", len(records), lambda rc: self._collection(
                    records, all_or_none, 200, rc, lambda r, _i: self._upsert_one(parts[2], parts[3], r)))
        if parts == ["query"] and method == "GET":
            soql = query.get("q", [""])[0]
            self.queries.append(soql)
            return call("query", 0, lambda rc: self._query(soql))
        if len(parts) >= 2 and parts[0] == "sobjects" and parts[1] in self.describes:
            object = parts[1]
            if len(parts) == 3 and parts[2] == "describe" and method == "GET":
                return call("describe", 0, lambda rc: (200, self.describes[object]))
            if len(parts) == 2 and method == "POST":
                return call("row.create", 1, lambda rc: (201, self._row_create(object, body)))
            if len(parts) == 3 and method == "GET":
                return call("row.get", 1, lambda rc: (200, self._out(self._live(object, parts[2]))))
            if len(parts) == 3 and method == "PATCH":
                return call("row.update", 1, lambda rc: self._row_update(object, parts[2], body, seen))
            if len(parts) == 3 and method == "DELETE":
                return call("row.delete", 1, lambda rc: self._row_delete(object, parts[2]))
        raise _Reply(404, "NOT_FOUND", f"The requested resource does not exist: {method} {path}")

    # single records
    def _row_create(self, object: str, body: Any) -> dict[str, Any]:
        fields = dict(body or {})
        self._validate(object, fields, creating=True)
        return {"id": self._new_row(object, fields).id, "success": True, "errors": []}

    def _row_update(self, object: str, rid: str, body: Any, cond: Mapping[str, str]) -> tuple[int, None]:
        row = self._live(object, rid)
        if cond:
            since = parsedate_to_datetime(next(iter(cond.values())))
            if row.stamp > since:  # both whole seconds: Salesforce's resolution
                raise _Reply(412, "PRECONDITION_FAILED", "The requested resource has been modified since")
        fields = dict(body or {})
        self._validate(object, fields, creating=False, row=row)
        self._apply(row, fields, USER_ID)
        return 204, None

    def _row_delete(self, object: str, rid: str) -> tuple[int, None]:
        self._live(object, rid).deleted = True
        return 204, None

    # collections
    def _collection(self, records: list[Any], all_or_none: bool, limit: int, record_codes: dict[str, str] | None,
                    one: Callable[[dict[str, Any], int], dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
        if len(records) > limit:
            raise _Reply(400, "EXCEEDED_ID_LIMIT", f"record limit exceeded: {len(records)} > {limit}")
        snapshot = {rid: (dict(r.fields), r.stamp, r.deleted) for rid, r in self.rows.items()} if all_or_none else None
        counters = dict(self._counters)
        out = []
        for i, rec in enumerate(records):
            rid = rec.get("id") if isinstance(rec, dict) else None
            code = (record_codes or {}).get(rid or "") or (record_codes or {}).get(f"#{i}")
            try:
                if code is not None:
                    raise _Reply(400, code, f"fake {code}")
                if not isinstance(rec, dict):
                    raise _Reply(400, "JSON_PARSER_ERROR", "record is not an object")
                out.append(one(rec, i))
            except _Reply as r:
                out.append({"id": rid, "success": False,
                            "errors": [{"statusCode": r.code, "message": r.message, "fields": r.fields}]})
        if all_or_none and any(not r["success"] for r in out):
            for rid in list(self.rows):
                if rid not in snapshot:  # type: ignore[operator]
                    del self.rows[rid]
            for rid, (fields, stamp, deleted) in snapshot.items():  # type: ignore[union-attr]
                row = self.rows[rid]
                row.fields, row.stamp, row.deleted = fields, stamp, deleted
            self._counters = counters
            out = [r if not r["success"] else {"id": r["id"], "success": False, "errors": [{
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "rolled back", "fields": []}]}
                for r in out]
        return 200, out

    def _create_one(self, rec: dict[str, Any], _i: int) -> dict[str, Any]:
        object = (rec.get("attributes") or {}).get("type")
        if object not in self.describes:
            raise _Reply(400, "INVALID_TYPE", f"sObject type {object!r} is not supported")
        fields = {k: v for k, v in rec.items() if k != "attributes"}
        self._validate(object, fields, creating=True)
        return {"id": self._new_row(object, fields).id, "success": True, "errors": []}

    def _update_one(self, rec: dict[str, Any], _i: int) -> dict[str, Any]:
        object = (rec.get("attributes") or {}).get("type")
        row = self._live(object, rec.get("id"))
        fields = {k: v for k, v in rec.items() if k not in ("attributes", "id")}
        self._validate(object, fields, creating=False, row=row)
        self._apply(row, fields, USER_ID)
        return {"id": row.id, "success": True, "errors": []}

    def _delete_one(self, rid: str) -> dict[str, Any]:
        row = self.rows.get(rid)
        if row is None:
            raise _Reply(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if row.deleted:
            raise _Reply(400, "ENTITY_IS_DELETED", "entity is deleted")
        row.deleted = True
        return {"id": rid, "success": True, "errors": []}

    def _upsert_one(self, object: str, ext: str, rec: dict[str, Any]) -> dict[str, Any]:
        spec = self._fields.get(object, {}).get(ext)
        if spec is None or not spec.get("externalId"):
            raise _Reply(400, "INVALID_FIELD", f"{ext} is not an External ID field of {object}", [ext])
        key = rec.get(ext)
        fields = {k: v for k, v in rec.items() if k != "attributes"}
        match = next((r for r in self.rows.values() if r.object == object and not r.deleted and r.fields.get(ext) == key), None)
        if match is None:
            self._validate(object, fields, creating=True)
            return {"id": self._new_row(object, fields).id, "success": True, "errors": [], "created": True}
        self._validate(object, fields, creating=False, row=match)
        self._apply(match, fields, USER_ID)
        return {"id": match.id, "success": True, "errors": [], "created": False}

    def _retrieve(self, object: str, body: dict[str, Any]) -> tuple[int, list[Any]]:
        ids, names = body.get("ids"), body.get("fields")
        if object not in self.describes:
            raise _Reply(404, "NOT_FOUND", f"sObject type '{object}' is not supported")
        if not isinstance(ids, list) or not isinstance(names, list) or not names:
            raise _Reply(400, "JSON_PARSER_ERROR", "ids and fields are required")
        if len(ids) > 2000:
            raise _Reply(400, "EXCEEDED_ID_LIMIT", f"too many ids: {len(ids)} > 2000")
        bad = [n for n in names if n not in self._fields[object]]
        if bad:
            raise _Reply(400, "INVALID_FIELD", f"No such column '{bad[0]}' on entity '{object}'", bad[:1])
        out: list[Any] = []
        for rid in ids:
            if not isinstance(rid, str) or len(rid) not in (15, 18) or not rid.isalnum():
                raise _Reply(400, "MALFORMED_ID", f"malformed id {rid!r}")
            row = self.rows.get(rid) or next((r for r in self.rows.values() if r.id[:15] == rid), None)
            out.append(None if row is None or row.deleted or row.object != object else self._out(row, names))
        return 200, out

    def _query(self, soql: str) -> tuple[int, Any]:
        """``GET query?q=``: the duplicate guard's SELECT ... WHERE f IN (...) OR f LIKE 'p%' (see _soql)."""
        try:
            q = _soql.parse(soql)
        except _soql.SOQLError as exc:
            raise _Reply(400, "MALFORMED_QUERY", str(exc)) from None
        if len(soql) > 100_000:
            raise _Reply(400, "MALFORMED_QUERY", "query is too long (100,000 characters at most)")
        obj = q["object"]
        if obj not in self.describes:
            raise _Reply(400, "INVALID_TYPE", f"sObject type '{obj}' is not supported")
        bad = [n for n in q["fields"] + [f for f, _, _ in q["where"]] if n not in self._fields[obj]]
        if bad:
            raise _Reply(400, "INVALID_FIELD", f"No such column '{bad[0]}' on entity '{obj}'", bad[:1])
        rows = [r for r in self.rows.values() if r.object == obj and not r.deleted and _soql.matches(r.fields, q["where"])]
        rows = rows[:q["limit"]] if q["limit"] is not None else rows
        records = [self._out(r, q["fields"]) for r in rows]
        return 200, {"totalSize": len(records), "done": True, "records": records}

    def _out(self, row: _Row, names: list[str] | None = None) -> dict[str, Any]:
        system = {"Id": row.id, "SystemModstamp": stamp_text(row.stamp), "LastModifiedDate": stamp_text(row.stamp),
                  "LastModifiedById": row.modified_by, "CreatedDate": stamp_text(row.created), "CreatedById": USER_ID}
        names = names or list(self._fields[row.object])
        return {"attributes": {"type": row.object, "url": f"/services/data/v{self.api_version}/sobjects/{row.object}/{row.id}"},
                **{n: system.get(n, row.fields.get(n)) for n in names}}


class _ReplyAfter(_Reply):
    def __init__(self, status: int, code: str, message: str, retry_after: str) -> None:
        super().__init__(status, code, message)
        self.retry_after = retry_after


def _handler(fake: SalesforceFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def date_time_string(self, timestamp: float | None = None) -> str:  # the Date header, fake time
            return format_datetime(fake.clock().astimezone(UTC), usegmt=True)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            extra: dict[str, str] = {}
            if fake.latency:
                time.sleep(fake.latency)  # the benchmark's simulated network; tests keep it 0
            try:
                body = json.loads(raw) if raw else None
                with fake._lock:
                    status, out, extra = fake.handle(self.command, split.path, parse_qs(split.query, keep_blank_values=True),
                                                     dict(self.headers), body)
            except ConnectionAbortedError:
                self.close_connection = True
                return
            except _Reply as r:
                status, out = r.status, [{"errorCode": r.code, "message": r.message, "fields": r.fields}]
                if isinstance(r, _ReplyAfter):
                    extra["Retry-After"] = r.retry_after
            except json.JSONDecodeError:
                status, out = 400, [{"errorCode": "JSON_PARSER_ERROR", "message": "bad JSON", "fields": []}]
            data = b"" if out is None else json.dumps(out, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Sforce-Limit-Info", f"api-usage={len(fake.calls)}/{fake.api_limit}")
            for name, value in extra.items():
                self.send_header(name, value)
            if out is not None:
                self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            # headers and body in one write: two small writes meet delayed ACKs (40 ms a call)
            self._headers_buffer.append(b"\r\n" + data)  # type: ignore[attr-defined]
            self.flush_headers()

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

    return Handler
