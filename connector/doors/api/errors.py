"""Every error the HTTP API returns: JSON ``{"error": {"code", "message", "details"?}}`` with a
stable ``code``, and the HTTP status each of crmgate's errors maps to. No stack trace leaves the
server; an unexpected exception is logged and answered 500 ``internal_error``."""
from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from crmgate.adapters.errors import CRMError
from crmgate.audit.export import TrailInvalidError
from crmgate.doors.api.validation import explain
from crmgate.doors.credentials import AccessError, CredentialError
from crmgate.doors.service import NotFound
from crmgate.errors import ApprovalError, CrmgateError, ProposalError, RollbackError
from crmgate.trail import TrailStoreError

log = structlog.get_logger("crmgate.api")

#: ApprovalError and RollbackError codes that are not "the request is invalid" (422)
_STATUS_BY_CODE = {
    "unknown_approval": 404, "unknown_change": 404, "not_pending": 409, "approval_expired": 409,
    "approver_is_ai": 403, "approver_is_proposer": 403, "approver_not_allowed": 403,
    "not_applied": 409, "no_result": 409, "not_stale": 409, "nothing_to_requeue": 409,
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        err["details"] = details
    return {"error": err}


def status_of(exc: CrmgateError) -> int:
    if isinstance(exc, AccessError):
        return exc.status
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, (ApprovalError, RollbackError)):
        return _STATUS_BY_CODE.get(exc.code, 422)
    if isinstance(exc, (ProposalError, CredentialError)):
        return 422
    return 422  # invalid_time, invalid_status and other bad input


def refusal_response(exc: CrmgateError) -> JSONResponse:
    """The error body and status of one of crmgate's errors, with an AccessError's headers."""
    return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=status_of(exc),
                        headers=exc.headers if isinstance(exc, AccessError) else None)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the error body."""

    @app.exception_handler(CrmgateError)
    async def _crmgate(_request: Request, exc: CrmgateError) -> JSONResponse:
        return refusal_response(exc)

    @app.exception_handler(CRMError)
    async def _crm(_request: Request, exc: CRMError) -> JSONResponse:
        return JSONResponse({"error": exc.to_dict()}, status_code=502)

    @app.exception_handler(TrailStoreError)
    async def _store(_request: Request, exc: TrailStoreError) -> JSONResponse:
        log.error("api.store_error", error=str(exc))
        return JSONResponse({"error": exc.to_dict()}, status_code=503)

    @app.exception_handler(TrailInvalidError)
    async def _invalid(_request: Request, exc: TrailInvalidError) -> JSONResponse:
        return JSONResponse(error_body("trail_invalid", "the stored trail does not verify; nothing was "
                                       "exported", exc.report.to_dict()), status_code=409)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        raw = exc.body if isinstance(exc.body, (str, bytes)) else b""
        body = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw  # lone surrogates: no 500
        message, problems = explain(exc.errors(), body, request.headers.get("content-type"))
        return JSONResponse(error_body("invalid_request", message, {"problems": problems}), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("api.unexpected", path=request.url.path, error=type(exc).__name__)
        return JSONResponse(error_body("internal_error", "an unexpected error; it was logged"),
                            status_code=500)
