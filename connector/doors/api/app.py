"""The HTTP API, version 1: proposals in, outcomes out; changes, records, approvals, rollback, export.

Every route but ``/v1/health`` takes ``Authorization: Bearer <token>`` (see
:mod:`crmgate.doors.credentials`); what each credential may do is decided in :mod:`crmgate.doors.service`.
Errors are JSON with a stable ``code`` (:mod:`crmgate.doors.api.errors`); rule violations are data in
a 200 outcome, never an error. The OpenAPI document is served at ``/v1/openapi.json`` (committed
as ``docs/openapi.json``) and as a self-contained HTML page at ``/v1/docs``.
"""
from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, cast

from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.applications import Starlette
from starlette.types import ASGIApp

from crmgate.doors.api import errors, schemas
from crmgate.doors.api.docs_page import render_docs
from crmgate.doors.api.lean import bearer_token, lean_route
from crmgate.doors.api.limits import MaxBodySize
from crmgate.doors.api.request_log import RequestLog, new_request_id
from crmgate.doors.boundaries import grants_for, with_fixes
from crmgate.doors.credentials import Credential
from crmgate.doors.service import Service
from crmgate.errors import CrmgateError

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.Error, "description": why} for code, why in (
        (400, "The body could not be read as JSON"),
        (401, "No token, or an unknown or revoked one"),
        (413, "The body is over server.max_body_mb"),
        (403, "The credential lacks the scope, or names another actor"),
        (404, "Unknown id, or not one this credential may read"),
        (409, "The state does not allow it (not pending, expired, key in use)"),
        (422, "Malformed request or proposal; nothing was decided or written"),
        (429, "Over the credential's request limit; see Retry-After"),
        (502, "The CRM refused or failed"),
        (503, "The trail store is unavailable"),
    )}

DEFAULT_MAX_BODY = 10 * 1024 * 1024
IN_PROGRESS_RETRY_AFTER = 5  # seconds: a repeat of a key whose first attempt is still running
_bearer = HTTPBearer(auto_error=False, description="A crmgate token: `crmgate tokens create`")
_Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
_Object = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_]+$")]


def package_version() -> str:
    try:
        return version("crmgate")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


async def _no_unknown_query(request: Request) -> None:
    """Refuse query parameters a route does not declare: a typo'd filter must not silently widen
    what is listed (`?statuz=pending` would list every status). Async: a sync dependency costs a
    hop to the thread pool and back on every request, for a check this small."""
    if not request.scope["query_string"]:
        return
    route = request.scope.get("route")
    declared = {p.alias for p in route.dependant.query_params} if route is not None else set()
    unknown = sorted(set(request.query_params) - declared)
    if unknown:
        raise CrmgateError(f"unknown query parameter {unknown[0]!r}"
                           + (f" (known: {', '.join(sorted(declared))})" if declared else " (this route takes none)"),
                           code="invalid_request", details={"unknown": unknown})


def create_app(service: Service, *, mcp_app: ASGIApp | None = None, console: ASGIApp | None = None,
               max_body_bytes: int = DEFAULT_MAX_BODY, request_ids: Callable[[], str] = new_request_id,
               lean: bool = True) -> FastAPI:
    """The ASGI app over ``service``; ``mcp_app`` (the MCP streamable HTTP endpoint) is served at /mcp,
    ``console`` (:mod:`crmgate.doors.console`) at / under every other route. Each request is logged
    once (:mod:`crmgate.doors.api.request_log`), with an id from ``request_ids``. ``lean=False``
    leaves the proposals route to FastAPI's general handling (tests compare the two)."""
    # Starlette runs only the outer app's lifespan: a Starlette mcp_app's (the MCP session manager) is ours
    lifespan = mcp_app.router.lifespan_context if isinstance(mcp_app, Starlette) else None
    app = FastAPI(title="crmgate", version=package_version(), openapi_url="/v1/openapi.json",
                  docs_url=None, redoc_url=None, lifespan=lifespan,  # /v1/docs below: no CDN assets
                  description="The governed door between AI workflows and your CRM. Every proposal is "
                              "validated against the rulebook, tiered by risk, written reversibly and "
                              "recorded in a signed, hash-chained trail.")
    errors.install(app)
    app.router.dependencies.append(Depends(_no_unknown_query))
    app.add_middleware(MaxBodySize, limit=max_body_bytes)
    app.add_middleware(RequestLog, request_ids=request_ids)  # added last: outermost, sees every answer

    def admit(request: Request, token: str | None) -> tuple[Credential, dict[str, str]]:
        cred, admission = service.admit(token, action=f"{request.method} {request.url.path}"[:200],
                                        client=request.client.host if request.client else None)
        request.state.actor, request.state.credential_id = cred.actor, cred.id  # for the request log
        return cred, admission.headers()

    def admitted(request: Request, response: Response, auth: HTTPAuthorizationCredentials | None) -> Credential:
        cred, headers = admit(request, auth.credentials if auth is not None else None)
        response.headers.update(headers)
        return cred

    def authenticated(request: Request, response: Response,
                      auth: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Credential:
        return admitted(request, response, auth)

    Caller = Depends(authenticated)

    @app.get("/v1/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> HTMLResponse:
        """The API reference as one self-contained HTML page (works offline)."""
        return HTMLResponse(render_docs(app.openapi(), openapi_url="/v1/openapi.json"))

    def needs(scope: str, action: str) -> Any:
        """The caller, refused (403) for a missing scope BEFORE its body is validated: a read-only
        token posting a malformed body learns that it may not, not how to fix the body. One
        dependency (admission and scope in one trip to the thread pool), not one inside another:
        each level costs FastAPI's dependency solving on every request."""
        def scoped(request: Request, response: Response,
                   auth: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Credential:
            cred = admitted(request, response, auth)
            service.require(cred, scope, action=action)
            return cred
        return Depends(scoped)

    @app.get("/v1/health", response_model=schemas.Health, tags=["meta"])
    def health() -> dict[str, Any]:
        """Liveness; needs no credential."""
        return {"status": "ok", "version": package_version()}

    @app.get("/v1/whoami", response_model=schemas.Whoami, responses=ERRORS, tags=["meta"])
    def whoami(cred: Credential = Caller) -> dict[str, Any]:
        """The credential's actor, scopes and request limit."""
        return {"credential_id": cred.id, "actor": cred.actor, "scopes": sorted(cred.scopes),
                "rate_limit": cred.rate_limit or service.limiter.default_limit}

    @app.get("/v1/capabilities", responses=ERRORS, tags=["meta"])
    def capabilities(cred: Credential = Caller) -> dict[str, Any]:
        """What this credential's actor may change: per use case and object, the operations, mode,
        confidence floor and each field's JSON Schema (from the rulebook)."""
        return {"actor": cred.actor, "grants": [g.to_dict() for g in grants_for(service.gate.rulebook, cred.actor)]}

    def proposed(cred: Credential, body: schemas.ProposalsIn) -> tuple[dict[str, Any], int]:
        items = [p.model_dump(exclude_unset=True) for p in body.proposals]
        outcomes = service.propose(cred, items, callback_url=body.callback_url)
        status = 409 if any(o.status == "in_progress" for o in outcomes) else 200
        return {"outcomes": [with_fixes(o.to_dict(), service.gate.rulebook, cred.actor) for o in outcomes]}, status

    def propose_lean(request: Request, body: schemas.ProposalsIn) -> tuple[dict[str, Any], int, dict[str, str]]:
        """The proposals route's short way (:mod:`crmgate.doors.api.lean`): what ``propose`` and its
        dependency do, in one call."""
        cred, headers = admit(request, bearer_token(request))
        service.require(cred, "propose", action="propose changes")
        content, status = proposed(cred, body)
        if status == 409:
            headers["Retry-After"] = str(IN_PROGRESS_RETRY_AFTER)
        return content, status, headers

    def propose(body: schemas.ProposalsIn, response: Response,
                cred: Credential = needs("propose", "propose changes")) -> dict[str, Any]:
        """Decide and (where the rules allow) write each proposal, as the credential's actor.

        One outcome per proposal, in order: applied, queued, rejected (with violations and a
        `fix` for each), shadowed, failed (the CRM certainly did not apply it), conflict, unknown
        (sent, effect unknown: ask again with the SAME idempotency_key, never a new one) or
        in_progress (the key's first attempt is still running). Any in_progress answers 409 with
        Retry-After (the body still holds every outcome). A malformed proposal refuses the whole
        request (422) and nothing is decided or written. With `callback_url` (to a host the config
        allows, else 403 callback_not_allowed and nothing is decided), each queued change's resolution
        (approved, rejected, expired, conflict, rolled_back) is POSTed there as signed JSON."""
        content, status = proposed(cred, body)
        if status == 409:
            response.status_code = 409
            response.headers["Retry-After"] = str(IN_PROGRESS_RETRY_AFTER)
        return content

    app.router.add_api_route("/v1/proposals", propose, methods=["POST"], response_model=schemas.Outcomes,
                             responses=ERRORS, tags=["proposals"],
                             route_class_override=lean_route(propose_lean) if lean else None)

    @app.post("/v1/proposals/check", response_model=schemas.Checks, responses=ERRORS, tags=["proposals"])
    def check(body: schemas.ProposalsIn, cred: Credential = needs("propose", "check changes")) -> dict[str, Any]:
        """What proposing would do now, and why; nothing is written (no trail entry, no CRM call
        but the reads)."""
        items = [p.model_dump(exclude_unset=True) for p in body.proposals]
        checks = service.check(cred, items)
        return {"checks": [with_fixes(c.to_dict(), service.gate.rulebook, cred.actor) for c in checks]}

    @app.get("/v1/proposals/{proposal_id}", response_model=schemas.ChangeView, responses=ERRORS,
             tags=["proposals"])
    def get_proposal(proposal_id: _Id, cred: Credential = Caller) -> dict[str, Any]:
        """Where a proposal stands now, with its trail entries."""
        return service.proposal(cred, proposal_id)

    @app.get("/v1/changes/{change_id}", response_model=schemas.ChangeView, responses=ERRORS, tags=["proposals"])
    def get_change(change_id: _Id, cred: Credential = Caller) -> dict[str, Any]:
        """Where a change stands now (applied, queued, rolled_back...), with the trail entries of
        its proposal: decision, intent, result, approvals, rollbacks, feedback."""
        return service.change(cred, change_id)

    @app.get("/v1/records/{object_name}/{record_id}", response_model=schemas.RecordOut, responses=ERRORS,
             tags=["records"])
    def get_record(object_name: _Object, record_id: _Id, cred: Credential = Caller) -> dict[str, Any]:
        """One record of a governed object, as the CRM holds it now."""
        return service.record(cred, object_name, record_id).to_dict()

    @app.get("/v1/approvals", response_model=schemas.QueuedChanges, responses=ERRORS, tags=["admin"])
    def list_approvals(cred: Credential = Caller,
                       status: Annotated[str | None, Query(max_length=20)] = None,
                       use_case: Annotated[str | None, Query(max_length=120)] = None) -> dict[str, Any]:
        """Queued changes, oldest first (scope `approve`)."""
        return {"approvals": service.approvals(cred, status=status, use_case=use_case)}

    @app.get("/v1/approvals/{change_id}", responses=ERRORS, tags=["admin"])
    def show_approval(change_id: _Id, cred: Credential = Caller) -> dict[str, Any]:
        """One queued change with its trail history (scope `approve`)."""
        return service.show_approval(cred, change_id)

    @app.post("/v1/approvals/{change_id}/approve", response_model=schemas.ApprovalResult, responses=ERRORS,
              tags=["admin"])
    def approve(change_id: _Id, body: schemas.ApproveIn,
                cred: Credential = needs("approve", "approve changes")) -> dict[str, Any]:
        """Approve as the credential's actor: separation of duties, expiry, a re-check of the
        record, optional `edits`, then the write (scope `approve`)."""
        return service.approve(cred, change_id, note=body.note, edits=body.edits).to_dict()

    @app.post("/v1/approvals/{change_id}/requeue", response_model=schemas.Requeued, responses=ERRORS,
              tags=["admin"])
    def requeue(change_id: _Id, body: schemas.RequeueIn | None = None,
                cred: Credential = needs("approve", "requeue changes")) -> dict[str, Any]:
        """Decide a stale change again on the record as it is now, as a new queued change linked
        to the old one (scope `approve`)."""
        return service.requeue(cred, change_id, note=body.note if body else None)

    @app.post("/v1/approvals/{change_id}/reject", response_model=schemas.ApprovalResult, responses=ERRORS,
              tags=["admin"])
    def reject(change_id: _Id, body: schemas.RejectIn, cred: Credential = needs("approve", "reject changes")) -> dict[str, Any]:
        """Reject as the credential's actor; nothing is written to the CRM (scope `approve`)."""
        return service.reject(cred, change_id, reason=body.reason).to_dict()

    @app.post("/v1/rollbacks", response_model=schemas.RollbackOut, responses=ERRORS, tags=["admin"])
    def rollback(body: schemas.RollbackIn, cred: Credential = needs("rollback", "roll changes back")) -> dict[str, Any]:
        """Undo changes where it is safe; fields edited since are conflicts and kept, unless
        `force` (scope `rollback`)."""
        report = service.rollback(cred, change=body.change, batch=body.batch, actor=body.actor,
                                  use_case=body.use_case, since=body.since, until=body.until,
                                  dry_run=body.dry_run, force=body.force, reconcile_first=body.reconcile_first)
        return report.to_dict()

    @app.post("/v1/reconcile", responses=ERRORS, tags=["admin"])
    def reconcile(body: schemas.ReconcileIn, cred: Credential = Caller) -> dict[str, Any]:
        """Find out what became of unknown writes and intents without a result: applied ones are
        recorded as applied, ones that never landed are written again (same change id and key) when
        still allowed, else failed; the rest stay unknown, listed in `unresolved` (scope `rollback`)."""
        return service.reconcile(cred, older_than=body.older_than, dry_run=body.dry_run).to_dict()

    @app.post("/v1/exports", responses={**ERRORS, 200: {
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        "description": "A zip of the export, its `.chain` proof and its signed `.manifest.json`: "
                       "unzip and run `crmgate trail verify --export FILE --public-key trail.pub`"}},
        response_class=Response, tags=["admin"])
    def export(body: schemas.ExportIn, cred: Credential = needs("export", "export the trail")) -> Response:
        """Export the trail for auditors, filtered (scope `export`)."""
        data, manifest = service.export(cred, fmt=body.format, since=body.since, until=body.until,
                                        actor=body.actor, use_case=body.use_case,
                                        object_name=body.object, record_id=body.record_id)
        return Response(data, media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="trail-{manifest["head"]["seq"]}.zip"'})

    if mcp_app is not None:
        # a route, not a mount: a mount answers /mcp with a redirect to /mcp/, and mcp_app routes /mcp itself
        app.router.add_route("/mcp", mcp_app, include_in_schema=False)
    if console is not None:
        app.mount("/", console)
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document: it depends on no configuration (the routes use the service only when
    called). ``python -m crmgate.doors.api > docs/openapi.json`` writes the committed copy."""
    return create_app(cast(Service, None)).openapi()
