"""The Queue and Change pages: what waits for a person, one change in full, and the decisions.

Every decision is one :meth:`Service.approve` or :meth:`Service.reject` call made as the signed-in
person, so separation of duties, expiry and the re-check of the record apply as in the API; a bulk
decision is one such call per selected change, each with its own result.
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from crmgate.doors.boundaries import describe_field
from crmgate.doors.console.core import Console, first
from crmgate.rules.conditions import values_equal

FILTERS = ("use_case", "actor", "object", "tier")
MAX_BULK = 200


def _fields(q: dict[str, Any]) -> list[str]:
    return [c["field"] for c in q.get("changes") or []] or sorted((q.get("proposal") or {}).get("fields") or {})


def _rows(queue: list[dict[str, Any]], picked: dict[str, str | None], sort: str) -> list[dict[str, Any]]:
    rows = [q for q in queue if all(not v or str(q.get(k) or "") == v for k, v in picked.items())]
    rows.sort(key=lambda q: (q["queued_at"], q["change_id"]), reverse=sort == "newest")
    return [{**q, "fields": _fields(q), "confidence": (q.get("proposal") or {}).get("confidence")} for q in rows]


async def queue_page(console: Console, request: Request, *, results: list[dict[str, Any]] | None = None,
                     error: dict[str, Any] | None = None) -> Response:
    me = await console.viewer(request)
    picked = {k: first(request.query_params, k) for k in FILTERS}
    sort = "newest" if request.query_params.get("sort") == "newest" else "oldest"
    status = "expired" if request.query_params.get("status") == "expired" else "pending"
    queue, err = await console.attempt(console.service.approvals, me.cred, status=status)
    queue = queue or []
    choices = {k: sorted({str(q.get(k)) for q in queue if q.get(k)}) for k in FILTERS}
    return console.render(request, "queue.html", me, status=403 if err and err["code"] == "missing_scope" else 200,
                          rows=_rows(queue, picked, sort), total=len(queue), picked=picked, choices=choices,
                          sort=sort, showing=status, error=error or err, results=results, nav="queue")


async def bulk(console: Console, request: Request) -> Response:
    form = await request.form()
    me = await console.viewer(request, form)
    ids = [str(v) for v in form.getlist("change_id")][:MAX_BULK]
    action = first(form, "action")
    reason = first(form, "reason")
    if not ids:
        return await queue_page(console, request, error={"code": "nothing_selected",
                                                         "message": "select at least one change first"})
    if action == "reject" and not reason:
        return await queue_page(console, request, error={"code": "reason_missing",
                                                         "message": "a rejection needs a reason"})
    results = []
    for change_id in ids:  # one decision per change: each is re-checked on its own
        if action == "reject":
            res, err = await console.attempt(console.service.reject, me.cred, change_id, reason=reason or "")
        else:
            res, err = await console.attempt(console.service.approve, me.cred, change_id,
                                             note=first(form, "note"))
        results.append({"change_id": change_id, "status": res.status if res else "refused",
                        "message": res.message if res else f"{err['code']}: {err['message']}"})  # type: ignore[index]
    return await queue_page(console, request, results=results)


def _decided(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return next((e for e in entries if e["kind"] == "proposal.decided"), {})


def _input_for(spec: Any, name: str, value: Any) -> dict[str, Any]:
    """How one field is edited: an input type and its constraints, from the rulebook's field spec."""
    kind = getattr(spec, "type", "string")
    html = {"picklist": "select", "date": "date", "number": "number", "integer": "number",
            "email": "email", "boolean": "select"}.get(kind, "text")
    options = list(spec.values or []) if kind == "picklist" else ["true", "false"] if kind == "boolean" else []
    return {"name": name, "type": html, "options": options, "value": "" if value is None else str(value).lower()
            if isinstance(value, bool) else str(value), "step": "1" if kind == "integer" else "any",
            "min": getattr(spec, "min", None), "max": getattr(spec, "max", None),
            "maxlength": getattr(spec, "max_length", None), "required": bool(getattr(spec, "required", False)),
            "hint": describe_field(name, spec) if spec is not None else name}


def _diff(changes: list[dict[str, Any]], now: dict[str, Any] | None, op: str, *, pending: bool) -> list[dict[str, Any]]:
    """One row per field; ``moved``: a pending change's field that someone edited since it was queued."""
    rows = []
    for c in changes:
        current = None if now is None else now.get(c["field"])
        moved = pending and op != "create" and now is not None and not values_equal(current, c.get("before")) \
            and not (current in (None, "") and c.get("before") in (None, ""))
        rows.append({"field": c["field"], "before": c.get("before"), "now": current, "proposed": c.get("after"),
                     "moved": moved})
    return rows


async def change_page(console: Console, request: Request, change_id: str, *, result: Any = None,
                      error: dict[str, Any] | None = None, status: int = 200) -> Response:
    me = await console.viewer(request)
    svc = console.service
    queued, q_err = (await console.attempt(svc.show_approval, me.cred, change_id)) if me.can("approve") else (None, None)
    view, v_err = (await console.attempt(svc.change, me.cred, change_id)) if me.can("read") else (None, None)
    if queued is None and view is None:
        err = q_err or v_err or {"code": "not_found", "message": f"no change {change_id} this credential may read"}
        return console.render(request, "change.html", me, status=404, change=None, error=err,
                              change_id=change_id, nav="queue")
    entries = (view or {}).get("entries") or [{**h, "data": h.get("data")} for h in (queued or {}).get("history", [])]
    decided = _decided(entries)
    data = decided.get("data") or {}
    summary = {**(view or {}), **(queued or {})}
    changes = (queued or {}).get("changes") or (data.get("decision") or {}).get("changes") or []
    now_rec, rec_err = None, None
    if summary.get("op") != "create" and summary.get("record_id") and me.can("read"):
        rec, rec_err = await console.attempt(svc.record, me.cred, summary["object"], summary["record_id"])
        now_rec = rec.fields if rec is not None else None
    proposal = {**(data.get("proposal") or {}), **((queued or {}).get("proposal") or {})}
    obj = svc.gate.rulebook.objects.get(summary.get("object"))
    specs = obj.fields if obj is not None else {}
    edits = error.get("edits", {}) if error else {}
    inputs = [_input_for(specs.get(c["field"]), c["field"], edits.get(c["field"], c.get("after")))
              for c in changes] if summary.get("op") != "delete" else []
    violations = {v.get("field"): v.get("message") for v in ((error or {}).get("details") or {}).get("violations", [])
                  } if error and isinstance(error.get("details"), dict) else {}
    return console.render(
        request, "change.html", me, status=status, change=summary, change_id=change_id, entries=entries,
        diff=_diff(changes, now_rec, summary.get("op") or "", pending=(queued or {}).get("status") == "pending"),
        record_error=rec_err, proposal=proposal,
        decision=data.get("decision") or {}, routing=data.get("routing"), enrichment=data.get("enrichment"),
        provenance=data.get("provenance") or {}, inputs=inputs, violations=violations, result=result,
        error=error, pending=(queued or {}).get("status") == "pending", nav="queue")


def _coerce(spec: Any, raw: str) -> Any:
    """A form value as the field's type; a value that does not parse stays text for the rules to refuse."""
    kind = getattr(spec, "type", "string")
    if raw == "":
        return None
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw) if any(ch in raw for ch in ".eE") else int(raw)
    except ValueError:
        return raw
    if kind == "boolean":
        return {"true": True, "false": False}.get(raw.lower(), raw)
    return raw


async def decide(console: Console, request: Request, change_id: str, action: str) -> Response:
    form = await request.form()
    me = await console.viewer(request, form)
    svc = console.service
    if action == "reject":
        res, err = await console.attempt(svc.reject, me.cred, change_id, reason=first(form, "reason") or "")
    else:
        edits: dict[str, Any] = {}
        if action == "edit":
            queued, err = await console.attempt(svc.show_approval, me.cred, change_id)
            if queued is not None:
                obj = svc.gate.rulebook.objects.get(queued["object"])
                specs = obj.fields if obj is not None else {}
                proposed = queued["proposal"].get("fields") or {}
                for name in proposed:
                    raw = form.get(f"field.{name}")
                    if raw is None:
                        continue
                    value = _coerce(specs.get(name), str(raw).strip())
                    if not values_equal(value, proposed[name]):
                        edits[name] = value
        res, err = await console.attempt(svc.approve, me.cred, change_id, note=first(form, "note"),
                                         edits=edits or None)
        if err is not None:
            err["edits"] = {k: "" if v is None else str(v) for k, v in edits.items()}
    status = 200 if err is None else 409 if err["code"] in ("not_pending", "approval_expired") else 422 \
        if err["code"] in ("invalid_change", "reason_missing", "edits_not_allowed") else 403
    return await change_page(console, request, change_id, result=res, error=err, status=status)
