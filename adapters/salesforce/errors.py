"""Salesforce errors translated into :mod:`crmgate.adapters.errors` at the adapter boundary.

Classification reads the Salesforce ``errorCode`` first and the HTTP status second, because one
status carries different meanings (403 is a permission problem *or* the spent API allowance)::

    errorCode / status                          -> crmgate error             retried?
    REQUEST_LIMIT_EXCEEDED (403)                -> QuotaExhaustedError       no: stops the run
    UNABLE_TO_LOCK_ROW (any status)             -> UnavailableError          yes (row lock)
    ENTITY_IS_DELETED, NOT_FOUND, 404           -> NotFoundError             no
    412 (If-Unmodified-Since failed)            -> PreconditionFailedError   no: a conflict
    401, INVALID_SESSION_ID, login failure      -> AuthenticationError       no
    403 otherwise                               -> PermissionDeniedError     no
    400 / 300 (REQUIRED_FIELD_MISSING, ...)     -> CRMValidationError        no
    429                                         -> RateLimitError            yes (Retry-After)
    500, 502, 503, 504                          -> UnavailableError          yes (Retry-After)
    requests ConnectionError / Timeout          -> TransportError            yes
    a body that is not the documented shape     -> ResponseError             no
    anything else                               -> CRMError                  no

Every translated error keeps the Salesforce ``errorCode`` as ``code``, the HTTP ``status``, the
``message`` and the ``fields``; more than one error in a body is kept under ``details["errors"]``.
Messages never include URLs with query strings, headers or credentials.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import requests
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from crmgate.adapters.errors import (
    AuthenticationError,
    CRMError,
    CRMValidationError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    QuotaExhaustedError,
    RateLimitError,
    RecordError,
    ResponseError,
    TransportError,
    UnavailableError,
)
from crmgate.adapters.retry import parse_retry_after

#: per-record codes worth sending again (the record was not touched)
RETRYABLE_RECORD_CODES = frozenset({"UNABLE_TO_LOCK_ROW"})
_NOT_FOUND_CODES = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND", "INVALID_CROSS_REFERENCE_KEY"})
#: the status a per-record error would have had on a single-record call
_RECORD_STATUS = {"ENTITY_IS_DELETED": 404, "NOT_FOUND": 404, "PRECONDITION_FAILED": 412,
                  "UNABLE_TO_LOCK_ROW": 503, "REQUEST_LIMIT_EXCEEDED": 403}


def error_items(content: Any) -> list[dict[str, Any]]:
    """The documented error body ``[{"errorCode", "message", "fields"}]`` as clean dicts.

    Also accepts Collections' ``{"statusCode", "message", "fields"}``, an OAuth
    ``{"error", "error_description"}`` and plain text; anything else gives ``[]``.
    """
    if isinstance(content, (bytes, bytearray)):
        content = content.decode("utf-8", "replace")
    if isinstance(content, Mapping):
        content = [content]
    if isinstance(content, str):
        text = content.strip()
        return [{"errorCode": None, "message": text[:500], "fields": []}] if text else []
    if not isinstance(content, list):
        return []
    items = []
    for raw in content:
        if not isinstance(raw, Mapping):
            continue
        code = raw.get("errorCode") or raw.get("statusCode") or raw.get("error")
        message = raw.get("message") or raw.get("error_description") or ""
        fields = raw.get("fields") if isinstance(raw.get("fields"), list) else []
        items.append({"errorCode": str(code) if code else None, "message": str(message),
                      "fields": [str(f) for f in fields]})
    return items


def _details(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"errors": items} if len(items) > 1 else {}


def record_error(errors: Any) -> RecordError:
    """One Collections result's ``errors`` list as a :class:`RecordError` (first error wins)."""
    items = error_items(errors) or [{"errorCode": "UNKNOWN_ERROR", "message": "no error detail", "fields": []}]
    first = items[0]
    code = first["errorCode"] or "UNKNOWN_ERROR"
    return RecordError(code=code, message=first["message"] or code, status=_RECORD_STATUS.get(code, 400),
                       fields=tuple(first["fields"]), retryable=code in RETRYABLE_RECORD_CODES,
                       details=_details(items))


def translate(exc: BaseException, response: requests.Response | None = None) -> CRMError:
    """The crmgate error for any exception raised while calling Salesforce.

    ``response`` is the last HTTP response of the call (kept by a session hook, since
    simple-salesforce's exceptions drop the headers); it supplies ``Retry-After``.
    """
    if isinstance(exc, CRMError):
        return exc
    if isinstance(exc, json.JSONDecodeError):  # also requests' JSONDecodeError, a RequestException
        return ResponseError(f"Salesforce answered something that is not JSON: {exc.msg}")
    if isinstance(exc, requests.Timeout):
        return TransportError(f"Salesforce did not answer in time: {type(exc).__name__}", code="timeout")
    if isinstance(exc, requests.ConnectionError):
        return TransportError(f"cannot reach Salesforce: {type(exc).__name__}", code="connection_error")
    if isinstance(exc, requests.RequestException):
        return TransportError(f"HTTP error talking to Salesforce: {type(exc).__name__}")
    if isinstance(exc, SalesforceAuthenticationFailed):
        text = exc.auth_message or ""
        fault = re.search(r"<faultstring>(.*?)</faultstring>", text, re.DOTALL)  # SOAP login answers
        return AuthenticationError(f"Salesforce login failed: {(fault.group(1) if fault else text)[:300] or exc.code}",
                                   code=str(exc.code or "authentication_failed"), status=401)
    if isinstance(exc, SalesforceError):
        return _from_salesforce_error(exc, response)
    return CRMError(f"unexpected error talking to Salesforce: {type(exc).__name__}: {exc}",
                    code="unexpected_error")


def _from_salesforce_error(exc: SalesforceError, response: requests.Response | None) -> CRMError:
    status = int(exc.status) if isinstance(exc.status, int) else None
    items = error_items(exc.content)
    first = items[0] if items else {"errorCode": None, "message": "", "fields": []}
    code = first["errorCode"]
    message = f"Salesforce {code or status}: {first['message'] or type(exc).__name__}"
    kw: dict[str, Any] = {"code": code, "status": status, "fields": first["fields"], "details": _details(items)}
    retry_after = parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
    if code == "REQUEST_LIMIT_EXCEEDED":
        return QuotaExhaustedError(message + " (the org's API allowance is spent; stopping)",
                                   retry_after=retry_after, **kw)
    if code in RETRYABLE_RECORD_CODES:
        return UnavailableError(message, **kw)
    if code in _NOT_FOUND_CODES or isinstance(exc, SalesforceResourceNotFound) or status == 404:
        return NotFoundError(message, **{**kw, "code": code or "NOT_FOUND"})
    if status == 412:
        return PreconditionFailedError(message, **{**kw, "code": code or "PRECONDITION_FAILED"})
    if isinstance(exc, SalesforceExpiredSession) or status == 401:
        return AuthenticationError(message, **{**kw, "code": code or "INVALID_SESSION_ID"})
    if isinstance(exc, SalesforceRefusedRequest) or status == 403:
        return PermissionDeniedError(message, **{**kw, "code": code or "FORBIDDEN"})
    if isinstance(exc, (SalesforceMalformedRequest, SalesforceMoreThanOneRecord)) or status in (300, 400):
        return CRMValidationError(message, **{**kw, "code": code or "MALFORMED_REQUEST"})
    if status == 429:
        return RateLimitError(message, retry_after=retry_after, **{**kw, "code": code or "rate_limited"})
    if status is not None and status >= 500:
        err = UnavailableError(message, **{**kw, "code": code or "SERVER_UNAVAILABLE"})
        err.retry_after = retry_after  # type: ignore[attr-defined]  # read by crmgate.adapters.retry.BackoffWait
        return err
    return CRMError(message, **{**kw, "code": code or "salesforce_error"})


def parse_limit_info(value: str | None) -> tuple[int, int] | None:
    """``Sforce-Limit-Info: api-usage=18/15000`` as ``(used, limit)``; None when absent/odd."""
    if not value:
        return None
    for part in value.split(","):
        name, _, usage = part.strip().partition("=")
        if name == "api-usage":
            used, _, limit = usage.partition("/")
            if used.isdigit() and limit.isdigit():
                return int(used), int(limit)
    return None


class Allowance:
    """The org's API allowance as every worker sees it: once a call is told REQUEST_LIMIT_EXCEEDED,
    this adapter stops, and so does every worker sharing ``budget`` (a trip of ``trip_s`` seconds)."""

    def __init__(self, budget: Any, key: str, trip_s: float = 3600.0) -> None:
        self.budget, self.key, self.trip_s = budget, f"salesforce:{key}:daily", trip_s
        self.stopped: QuotaExhaustedError | None = None

    def check(self) -> None:
        """Raise the stop if this adapter or another worker met the spent allowance."""
        if self.stopped is None and self.budget is not None and self.budget.tripped(self.key, self.trip_s):
            self.stopped = QuotaExhaustedError("the org's API allowance is spent (another worker was told so); "
                                               "stopping", code="REQUEST_LIMIT_EXCEEDED", status=403)
        if self.stopped is not None:
            raise self.stopped

    def spent(self, err: CRMError) -> None:
        if isinstance(err, QuotaExhaustedError):
            self.stopped = err
            if self.budget is not None:
                self.budget.trip(self.key, self.trip_s)
