"""The endpoint bodies of the fake HubSpot (:mod:`tests.fakes.hubspot_fake`), called under its lock."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakes.hubspot_fake import READ_ONLY, VERSION_PROP, HubSpotError, _Rec, iso

if TYPE_CHECKING:
    from tests.fakes.hubspot_fake import FakeHubSpot

MAX_INPUTS, MAX_HISTORY_INPUTS = 100, 50
_LIST = "array"
#: the query parameters of each endpoint in HubSpot's published CRM v3 objects spec, and their types
_ONE = {"properties": _LIST, "propertiesWithHistory": _LIST, "associations": _LIST, "archived": "boolean",
        "idProperty": "string"}
QUERY_PARAMS: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "list"): {"limit": "integer", "after": "string", "properties": _LIST,
                      "propertiesWithHistory": _LIST, "associations": _LIST, "archived": "boolean"},
    ("POST", "list"): {},
    ("GET", "one"): _ONE,
    ("PATCH", "one"): {"idProperty": "string"},
    ("DELETE", "one"): {},
    ("POST", "batch"): {},
}


def check_query(method: str, parts: list[str], query: dict[str, list[str]]) -> None:
    """Refuse a query parameter the spec does not declare for the endpoint, or one of the wrong
    type, so a regression in what the adapter sends fails the tests."""
    if len(parts) == 6 and parts[4] == "batch":
        allowed = {"archived": "boolean"} if parts[5] == "read" else QUERY_PARAMS[("POST", "batch")]
    else:
        allowed = QUERY_PARAMS.get((method, "one" if len(parts) == 5 else "list"), {})
    for name, values in query.items():
        kind = allowed.get(name)
        if kind is None:
            problem = f"{name} is not a query parameter of this endpoint"
        elif kind != _LIST and len(values) != 1:
            problem = f"{name} was given {len(values)} times"
        elif kind == "boolean" and values[0] not in ("true", "false"):
            problem = f"{name}: {values[0]!r} is not a boolean"
        elif kind == "integer" and not values[0].isdigit():
            problem = f"{name}: {values[0]!r} is not an integer"
        else:
            continue
        raise HubSpotError(400, "VALIDATION_ERROR", f"Invalid query parameter: {problem}",
                           errors=[{"message": problem, "in": "query", "code": "INVALID_QUERY_PARAMETER"}])


def _obj(fake: "FakeHubSpot", rec: _Rec, props: list[str] | None = None, history: list[str] | None = None,
         trace: str | None = None, shown: list[str] | None = None) -> dict[str, Any]:
    """A SimplePublicObject: requested properties (null when unset) plus the system stamps."""
    names = list(props or []) + list(shown or [])
    out_props = {name: rec.props.get(name) for name in names}
    for name in ("hs_object_id", "createdate", VERSION_PROP[rec.object]):
        out_props[name] = rec.props.get(name)
    out: dict[str, Any] = {"id": rec.id, "properties": out_props, "createdAt": iso(rec.created),
                           "updatedAt": iso(rec.updated), "archived": False}
    if history:
        out["propertiesWithHistory"] = {name: list(rec.history.get(name, [])) for name in history}
    if trace is not None:
        out["objectWriteTraceId"] = trace
    return out


def _err(category: str, message: str, context: dict[str, list[str]], errors: list[Any] | None = None) -> dict[str, Any]:
    return {"status": "error", "category": category, "message": message, "context": context,
            "links": {}, "errors": errors or []}


def _batch_response(fake: "FakeHubSpot", results: list[Any], errors: list[Any], ok: int = 200) -> tuple[int, Any]:
    now = iso(int(fake.clock() * 1000))
    out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
    if errors:
        out.update(numErrors=len(errors), errors=errors)
        return 207, out
    return ok, out


def _inputs(payload: Any, limit: int = MAX_INPUTS) -> list[dict[str, Any]]:
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON: inputs must be a list")
    inputs = payload["inputs"]
    if len(inputs) > limit:
        raise HubSpotError(400, "VALIDATION_ERROR", f"Batch input must contain at most {limit} inputs, got {len(inputs)}",
                           context={"inputs": [str(len(inputs))]})
    if not all(isinstance(i, dict) for i in inputs):
        raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON: every input must be an object")
    return inputs


def _lookup(fake: "FakeHubSpot", object: str, key: str, id_property: str | None) -> _Rec | None:
    if id_property in (None, "", "hs_object_id"):
        return fake._recs[object].get(str(key))
    if id_property not in fake.unique[object]:
        raise HubSpotError(400, "VALIDATION_ERROR", f"{id_property} is not a unique identifier property")
    return fake._find_unique(object, id_property, str(key))


def _strings(props: dict[str, Any]) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in props.items()}


def batch(fake: "FakeHubSpot", object: str, op: str, payload: Any) -> tuple[int, Any]:
    if op == "read":
        history = list(payload.get("propertiesWithHistory") or []) if isinstance(payload, dict) else []
        inputs = _inputs(payload, MAX_HISTORY_INPUTS if history else MAX_INPUTS)
        props = list(payload.get("properties") or [])
        id_prop = payload.get("idProperty")
        results, missing = [], []
        for item in inputs:
            rec = _lookup(fake, object, item.get("id"), id_prop)
            if rec is None:
                missing.append(str(item.get("id")))
            else:
                results.append(_obj(fake, rec, props, history))
        errors = [_err("OBJECT_NOT_FOUND", f"Could not get some {object} objects, they may be deleted or not exist.",
                       {"ids": missing})] if missing else []
        return _batch_response(fake, results, errors)
    inputs = _inputs(payload)
    if op == "create":
        return _batch_create(fake, object, inputs)
    if op == "update":
        results, errors = [], []
        for item in inputs:
            rid, trace = str(item.get("id")), item.get("objectWriteTraceId")
            context = {"ids": [rid], **({"objectWriteTraceId": [str(trace)]} if trace is not None else {})}
            rec = _lookup(fake, object, rid, item.get("idProperty"))
            if rec is None:
                errors.append(_err("OBJECT_NOT_FOUND", f"Object {rid} not found", context))
                continue
            try:
                fake._validate(object, item.get("properties"), current=rec)
            except HubSpotError as exc:
                errors.append(_err(exc.category, exc.message, context, exc.extra.get("errors")))
                continue
            props = _strings(item["properties"])
            fake._write(rec, props, "INTEGRATION")
            results.append(_obj(fake, rec, shown=list(props), trace=trace))
        return _batch_response(fake, results, errors)
    if op == "upsert":
        results = []
        for item in inputs:
            id_prop, key = item.get("idProperty"), str(item.get("id"))
            rec = _lookup(fake, object, key, id_prop)
            props = _strings(item.get("properties") or {})
            fake._validate(object, props, current=rec)
            if rec is None:
                rec = fake._create(object, {**props, id_prop: key}, "INTEGRATION")
                new = True
            else:
                fake._write(rec, props, "INTEGRATION")
                new = False
            results.append({**_obj(fake, rec, shown=list(props)), "new": new})
        return _batch_response(fake, results, [])
    if op == "archive":
        for item in inputs:
            rec = fake._recs[object].pop(str(item.get("id")), None)
            if rec is not None:
                fake._archived[object][rec.id] = rec
        return 204, None
    raise HubSpotError(404, "OBJECT_NOT_FOUND", f"no batch operation {op}")


def _batch_create(fake: "FakeHubSpot", object: str, inputs: list[dict[str, Any]]) -> tuple[int, Any]:
    traced = all(i.get("objectWriteTraceId") is not None for i in inputs)
    pending: dict[tuple[str, str], str] = {}
    good: list[tuple[dict[str, Any], dict[str, str]]] = []
    errors = []
    for item in inputs:
        trace = item.get("objectWriteTraceId")
        try:
            fake._validate(object, item.get("properties"), pending=pending)
        except HubSpotError as exc:
            if not traced:  # without trace ids HubSpot cannot say which input failed: all fail
                raise
            errors.append(_err(exc.category, exc.message, {"objectWriteTraceId": [str(trace)]},
                               exc.extra.get("errors")))
            continue
        props = _strings(item["properties"])
        for name in fake.unique[object]:
            if props.get(name):
                pending[(name, props[name].lower())] = f"pending:{trace}"
        good.append((item, props))
    results = []
    for item, props in good:
        rec = fake._create(object, props, "INTEGRATION")
        trace = item.get("objectWriteTraceId") if fake.echo_trace else None  # optional in HubSpot's spec
        results.append(_obj(fake, rec, shown=list(props), trace=trace))
    return _batch_response(fake, results, errors, ok=201)


def single(fake: "FakeHubSpot", method: str, object: str, rid: str | None, query: dict[str, str],
           payload: Any) -> tuple[int, Any]:
    if rid is None:
        if method != "POST":
            raise HubSpotError(405, "VALIDATION_ERROR", f"{method} not allowed here")
        props = (payload or {}).get("properties") if isinstance(payload, dict) else None
        fake._validate(object, props)
        rec = fake._create(object, _strings(props), "INTEGRATION")  # type: ignore[arg-type]
        return 201, _obj(fake, rec, shown=list(props))  # type: ignore[arg-type]
    rec = _lookup(fake, object, rid, query.get("idProperty"))
    if rec is None:
        raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Object not found. objectId are usually numeric. ({rid})")
    if method == "GET":
        props = [p for p in (query.get("properties") or "").split(",") if p]
        history = [p for p in (query.get("propertiesWithHistory") or "").split(",") if p]
        return 200, _obj(fake, rec, props, history)
    if method == "PATCH":
        props = (payload or {}).get("properties") if isinstance(payload, dict) else None
        fake._validate(object, props, current=rec)
        fake._write(rec, _strings(props), "INTEGRATION")  # type: ignore[arg-type]
        return 200, _obj(fake, rec, shown=list(props))  # type: ignore[arg-type]
    if method == "DELETE":
        fake._archived[object][rec.id] = fake._recs[object].pop(rec.id)
        return 204, None
    raise HubSpotError(405, "VALIDATION_ERROR", f"{method} not allowed here")


__all__ = ["batch", "check_query", "single", "READ_ONLY"]
