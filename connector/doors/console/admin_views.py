"""The Rollback, Trail and Report pages.

Rollback is :meth:`Service.rollback` twice: a dry run whose plan is shown field by field, then the
same selection confirmed. Trail reading, verifying and exporting need the ``export`` scope (an
auditor's); the report needs an admin credential. Exports are :meth:`Service.export`'s zip.
"""
from __future__ import annotations

import csv
import io
import secrets
from collections import defaultdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmgate.audit.report import COUNTERS, build_report, change_of, rates
from crmgate.clock import parse_time
from crmgate.doors.console.charts import rate_chart, shadow_chart
from crmgate.doors.console.core import Console, Viewer, first
from crmgate.doors.credentials import AccessError
from crmgate.errors import CrmgateError
from crmgate.trail import Entry, verify_store

SELECTORS = (("actor", "An actor's changes"), ("change", "One change"), ("batch", "A batch"),
             ("use_case", "A use case's changes"))
TRAIL_FILTERS = ("since", "until", "actor", "use_case", "object", "record_id")
TRAIL_PAGE = 200
MAX_JOBS = 50
RATE_NAMES = ("acceptance", "override", "rollback", "exception")


def _selection(form: Any) -> dict[str, Any]:
    kind = first(form, "kind") or "actor"
    kind = kind if kind in dict(SELECTORS) else "actor"
    return {"kind": kind, "value": first(form, "value"), "since": first(form, "since"),
            "until": first(form, "until"), "force": first(form, "force") == "yes"}


async def rollback_page(console: Console, request: Request) -> Response:
    me = await console.viewer(request)
    return console.render(request, "rollback.html", me, sel=_selection(request.query_params), selectors=SELECTORS,
                          plan=None, done=None, error=None, nav="rollback")


def _start(console: Console, me: Viewer, sel: dict[str, Any]) -> str:
    """Run the confirmed rollback in the background; its progress is polled at /rollback/jobs/<id>."""
    job: dict[str, Any] = {"id": secrets.token_urlsafe(12), "owner": me.cred.id, "done": 0, "total": None,
                           "report": None, "error": None, "sel": sel}

    def progress(done: int, total: int) -> None:
        job.update(done=done, total=total)

    def run() -> None:
        try:
            report = console.service.rollback(me.cred, **{sel["kind"]: sel["value"]}, since=sel["since"],
                                              until=sel["until"], force=sel["force"], progress=progress)
            job["report"] = report.to_dict()
        except CrmgateError as exc:
            job["error"] = {"code": exc.code, "message": exc.message}
        except Exception as exc:  # noqa: BLE001 - shown on the page; the trail says what was written
            job["error"] = {"code": "rollback_failed", "message": f"{type(exc).__name__}: {exc}"}

    console.jobs[job["id"]] = job
    for old in list(console.jobs)[:-MAX_JOBS]:  # keep the latest; the trail keeps everything
        console.jobs.pop(old, None)
    console.background(run)
    return str(job["id"])


async def rollback_job(console: Console, request: Request, job_id: str) -> Response:
    me = await console.viewer(request)
    job = console.jobs.get(job_id)
    if job is None or job["owner"] != me.cred.id:
        return console.render(request, "rollback.html", me, status=404, sel=_selection({}), selectors=SELECTORS,
                              plan=None, done=None, job=None, nav="rollback", error={
                                  "code": "not_found", "message": "no such rollback (or it ran on another server "
                                                                  "process): see the trail for its entries"})
    finished = job["report"] is not None or job["error"] is not None
    return console.render(request, "rollback.html", me, status=200, sel=job["sel"], selectors=SELECTORS, plan=None,
                          done=job["report"], job=None if finished else job, error=job["error"], nav="rollback")


async def rollback_post(console: Console, request: Request, *, confirm: bool) -> Response:
    form = await request.form()
    me = await console.viewer(request, form)
    sel = _selection(form)
    error = None
    if not sel["value"]:
        error = {"code": "selector_missing", "message": "name the change, batch, actor or use case to roll back"}
        return console.render(request, "rollback.html", me, status=422, sel=sel, selectors=SELECTORS, plan=None,
                              done=None, error=error, nav="rollback")
    if confirm:
        console.service.require(me.cred, "rollback", action="roll changes back")
        return console.redirect(request, f"/rollback/jobs/{_start(console, me, sel)}")
    report, error = await console.attempt(console.service.rollback, me.cred, **{sel["kind"]: sel["value"]},
                                          since=sel["since"], until=sel["until"], dry_run=True, force=sel["force"])
    status = 200 if error is None else 403 if error["code"] == "missing_scope" else 422
    return console.render(request, "rollback.html", me, status=status, sel=sel, selectors=SELECTORS,
                          plan=report.to_dict() if report is not None else None, done=None, error=error,
                          nav="rollback")


def _auditor(console: Console, me: Viewer, action: str) -> None:
    console.service.require(me.cred, "export", action=action)


def _trail_filters(query: Any) -> dict[str, str | None]:
    return {k: first(query, k) for k in TRAIL_FILTERS}


async def trail_page(console: Console, request: Request, *, verified: dict[str, Any] | None = None) -> Response:
    me = await console.viewer(request)
    f = _trail_filters(request.query_params)
    entries: list[Entry] = []
    error = None
    try:
        _auditor(console, me, "read the trail")
        store = console.service.gate.store
        since, until = parse_time(f["since"], name="since"), parse_time(f["until"], name="until")
        head, _ = await console.call(store.head)
        start = 1 if any(f.values()) else max(1, head - TRAIL_PAGE + 1)  # unfiltered: read the last page only
        entries = await console.call(store.query, actor=f["actor"], use_case=f["use_case"], object=f["object"],
                                     record_id=f["record_id"], since=since, until=until, start=start)
        entries = entries[-TRAIL_PAGE:][::-1]
    except AccessError as exc:
        error = {"code": exc.code, "message": exc.message}
    except CrmgateError as exc:
        error = {"code": exc.code, "message": exc.message}
    status = 403 if error and error["code"] == "missing_scope" else 422 if error else 200
    return console.render(request, "trail.html", me, status=status, filters=f, entries=entries, error=error,
                          page_size=TRAIL_PAGE, nav="trail", result=verified)


async def trail_verify(console: Console, request: Request) -> Response:
    form = await request.form()
    me = await console.viewer(request, form)
    try:
        _auditor(console, me, "verify the trail")
        signer = console.service.signer
        if signer is None:
            raise CrmgateError("this server has no trail key to verify with", code="verify_unavailable")
        report = await console.call(verify_store, console.service.gate.store, signer.public_key())
        result = {"ok": report.ok, "summary": report.summary(), "problems": [p.to_dict() for p in report.problems]}
    except CrmgateError as exc:
        result = {"ok": False, "summary": f"{exc.code}: {exc.message}", "problems": []}
    if not request.headers.get("HX-Request"):  # without JavaScript: the whole page, with the verdict
        return await trail_page(console, request, verified=result)
    return console.render(request, "_verify.html", me, result=result)


async def trail_export(console: Console, request: Request) -> Response:
    form = await request.form()
    me = await console.viewer(request, form)
    f = _trail_filters(form)
    fmt = "csv" if first(form, "format") == "csv" else "jsonl"
    data, error = await console.attempt(console.service.export, me.cred, fmt=fmt, since=f["since"],
                                        until=f["until"], actor=f["actor"], use_case=f["use_case"],
                                        object_name=f["object"], record_id=f["record_id"])
    if error is not None:
        return console.render(request, "trail.html", me, status=403 if error["code"] == "missing_scope" else 422,
                              filters=f, entries=[], error=error, page_size=TRAIL_PAGE, nav="trail", result=None)
    body, manifest = data  # type: ignore[misc]
    return Response(body, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="trail-{manifest["head"]["seq"]}-{fmt}.zip"'})


def _buckets(entries: list[Entry]) -> tuple[list[str], list[Any]]:
    """One report per day of the events, or per hour when the trail spans two days or less (a
    change decided in an earlier bucket is attributed through a lookup)."""
    decided = {e.change_id: e for e in entries if e.kind == "proposal.decided" and e.change_id}
    cut = 13 if entries and len({e.ts[:10] for e in entries}) <= 2 else 10
    days: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        days[e.ts[:cut]].append(e)
    labels = sorted(days)[-30:]
    return labels, [build_report(days[d], lookup=lambda cid, _seq: change_of(decided[cid]) if cid in decided
                                 else None) for d in labels]


def _series(reports: list[Any], rate: str, use_cases: list[str]) -> dict[str, list[float | None]]:
    """``all`` and each use case's ``rate`` per bucket."""
    out = {"all": [rates(r.totals)[rate] for r in reports]}
    for uc in use_cases:
        out[uc] = [rates(r.by_use_case[uc])[rate] if uc in r.by_use_case else None for r in reports]
    return out


async def _report(console: Console, me: Viewer, since: str | None) -> tuple[Any, list[Entry]]:
    if not me.cred.admin:
        raise AccessError(f"credential {me.cred.id} ({me.actor}) needs an admin scope (approve, rollback or "
                          "export) to read the governance report", code="missing_scope", status=403)
    store = console.service.gate.store
    entries = await console.call(store.query, since=parse_time(since, name="since"))
    return build_report(entries, since=since), entries


async def report_page(console: Console, request: Request) -> Response:
    me = await console.viewer(request)
    since = first(request.query_params, "since")
    try:
        report, entries = await _report(console, me, since)
    except CrmgateError as exc:
        return console.render(request, "report.html", me, status=403 if exc.code == "missing_scope" else 422,
                              error={"code": exc.code, "message": exc.message}, report=None, since=since,
                              nav="report")
    labels, reports = _buckets(entries)
    unit = "hour" if labels and len(labels[0]) == 13 else "day"
    use_cases = sorted(report.by_use_case)[:5]
    charts = [(f"{name.capitalize()} rate per {unit}",
               rate_chart(f"{name.capitalize()} rate per {unit}", labels, _series(reports, name, use_cases),
                          chart_id=f"c-{name}")) for name in RATE_NAMES]
    doc = report.to_dict()
    shadow = shadow_chart(sorted(report.by_use_case.items()), chart_id="c-shadow")
    return console.render(request, "report.html", me, report=doc, charts=charts, shadow=shadow, since=since,
                          error=None, nav="report")


async def report_csv(console: Console, request: Request) -> Response:
    me = await console.viewer(request)
    try:
        report, _ = await _report(console, me, first(request.query_params, "since"))
    except CrmgateError as exc:
        return Response(f"{exc.code}: {exc.message}\n", status_code=403 if exc.code == "missing_scope" else 422,
                        media_type="text/plain")
    out = io.StringIO()
    names = list(RATE_NAMES) + ["feedback_accuracy", "would_apply"]
    w = csv.writer(out)
    w.writerow(["group", "key", *COUNTERS, *(f"{n}_rate" for n in names)])
    groups = [("total", {"all": report.totals}), ("use_case", report.by_use_case), ("actor", report.by_actor),
              ("field", report.by_field)]
    for group, rows in groups:
        for key in sorted(rows):
            c = rows[key]
            r = rates(c)
            w.writerow([group, key, *(c[k] for k in COUNTERS), *("" if r[n] is None else r[n] for n in names)])
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="governance-report.csv"'})


def routes(console: Console, page: Any) -> list[Route]:
    async def plan(request: Request) -> Response:
        return await rollback_post(console, request, confirm=False)

    async def run(request: Request) -> Response:
        return await rollback_post(console, request, confirm=True)

    return [
        Route("/rollback", page(rollback_page)),
        Route("/rollback/plan", plan, methods=["POST"]),
        Route("/rollback/run", run, methods=["POST"]),
        Route("/rollback/jobs/{job_id}", page(rollback_job)),
        Route("/trail", page(trail_page)),
        Route("/trail/verify", page(trail_verify), methods=["POST"]),
        Route("/trail/export", page(trail_export), methods=["POST"]),
        Route("/report", page(report_page)),
        Route("/report.csv", page(report_csv)),
    ]
