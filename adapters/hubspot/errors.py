"""HubSpot errors translated into :mod:`crmgate.adapters.errors`, by status, body and headers.

Each module of hubspot-api-client (``hubspot.crm.objects``, ``hubspot.crm.contacts``,
``hubspot.crm.deals``...) has its own ``ApiException`` tree, so classes are never compared: any
exception from a ``hubspot`` module carrying ``status`` is read as an HTTP answer. The table:

=====================================  ===================================================
HubSpot answer                         crmgate error
=====================================  ===================================================
status 0 (SSL, no HTTP answer), urllib3 TransportError (retryable)
429 ``policyName`` DAILY               QuotaExhaustedError (stops the run, never retried)
429 other (TEN_SECONDLY_ROLLING...)    RateLimitError(retry_after from Retry-After)
401                                    AuthenticationError
403                                    PermissionDeniedError
404                                    NotFoundError
409 (OBJECT_ALREADY_EXISTS...)         CRMValidationError(code=category)
412                                    PreconditionFailedError
400, 422, other 4xx                    CRMValidationError / CRMError
408, 5xx                               UnavailableError (retryable, honours Retry-After)
SDK type/value errors, bad JSON        ResponseError
=====================================  ===================================================

``category``, ``correlationId``, ``subCategory``, ``policyName`` and the body's ``errors`` are kept in
``details`` (support needs the correlation id). The token is never in a message: HubSpot does not
echo request headers, and only the response's headers and body are read.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import urllib3

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

_STATUS_OF_CATEGORY = {
    "OBJECT_NOT_FOUND": 404, "OBJECT_ALREADY_EXISTS": 409, "VALIDATION_ERROR": 400,
    "RATE_LIMITS": 429, "CONFLICT": 409, "INVALID_AUTHENTICATION": 401, "MISSING_SCOPES": 403,
}
_KEPT = ("category", "correlationId", "subCategory", "policyName", "errorType", "context")


def parse_body(raw: Any) -> dict[str, Any]:
    """An error body as a dict; HubSpot sends JSON, but a proxy may send HTML or nothing."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, (bytes, bytearray)):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str) or not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return {"message": raw.strip()[:300]}
    return body if isinstance(body, dict) else {}


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    try:
        items = headers.items()
    except AttributeError:
        return None
    for key, value in items:
        if str(key).lower() == name.lower():
            return str(value)
    return None


def _details(body: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: body[k] for k in _KEPT if body.get(k) not in (None, "", {}, [])}
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        out["errors"] = errors[:20]
    return out


def _fields_of(body: Mapping[str, Any]) -> tuple[str, ...]:
    names: list[str] = []
    for err in body.get("errors") or []:
        if not isinstance(err, Mapping):
            continue
        ctx = err.get("context") or {}
        for name in (ctx.get("propertyName") or []) if isinstance(ctx, Mapping) else []:
            names.append(str(name))
        if isinstance(err.get("in"), str) and err.get("in") not in ("body", "query"):
            names.append(err["in"])
    return tuple(dict.fromkeys(names))


def from_http(status: int, body: Mapping[str, Any], headers: Any, reason: str | None = None) -> CRMError:
    """The crmgate error for one HubSpot HTTP error answer."""
    category = body.get("category")
    message = str(body.get("message") or reason or f"HubSpot answered {status}")
    details = _details(body)
    code = str(category or f"HTTP_{status}")
    kw: dict[str, Any] = {"code": code, "status": status, "details": details, "fields": _fields_of(body)}
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    if status == 429 or category == "RATE_LIMITS":
        policy = str(body.get("policyName") or "")
        if policy.upper() == "DAILY":
            return QuotaExhaustedError(f"HubSpot daily API allowance is spent: {message}",
                                       **{**kw, "code": "DAILY"})
        return RateLimitError(message, retry_after=retry_after, **{**kw, "code": policy or code})
    if status == 401:
        return AuthenticationError(message, **kw)
    if status == 403:
        return PermissionDeniedError(message, **kw)
    if status == 404:
        return NotFoundError(message, **kw)
    if status == 412:
        return PreconditionFailedError(message, **kw)
    if status == 408 or 500 <= status <= 599:
        err = UnavailableError(message, **kw)
        err.retry_after = retry_after  # type: ignore[attr-defined]  # BackoffWait reads it
        return err
    if status in (400, 409, 422):
        return CRMValidationError(message, **kw)
    return CRMError(message, **kw)


def translate(exc: BaseException) -> CRMError | None:
    """The crmgate error for an exception raised by hubspot-api-client or urllib3; None if foreign."""
    if isinstance(exc, CRMError):
        return exc
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return TransportError(f"HubSpot unreachable: {type(exc).__name__}: {exc}")
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return TransportError(f"HubSpot unreachable: {type(exc).__name__}: {exc}")
    module = type(exc).__module__ or ""
    status = getattr(exc, "status", None)
    if module.startswith("hubspot") and status is not None:
        try:
            status = int(status)
        except (TypeError, ValueError):
            status = 0
        if status == 0:  # the SDK's wrapper for SSL errors: no HTTP answer came
            return TransportError(f"HubSpot unreachable: {getattr(exc, 'reason', exc)}")
        body = parse_body(getattr(exc, "body", None))
        return from_http(status, body, getattr(exc, "headers", None), getattr(exc, "reason", None))
    if module.startswith("hubspot") or isinstance(exc, (ValueError, UnicodeError)):
        # the SDK could not build or read a message: a garbage answer, not something to retry
        return ResponseError(f"HubSpot answer could not be read: {type(exc).__name__}: {exc}")
    return None


def plain(obj: Any) -> Any:
    """An SDK model as the JSON HubSpot sent (``subCategory``, not the SDK's ``sub_category``)."""
    if hasattr(obj, "attribute_map") and hasattr(obj, "openapi_types"):
        return {obj.attribute_map[k]: plain(getattr(obj, k)) for k in obj.openapi_types
                if getattr(obj, k, None) is not None}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: plain(v) for k, v in obj.items()}
    return obj


def record_error(err: Any, *, status_hint: int | None = None) -> RecordError:
    """One entry of a 207 ``errors[]`` (an SDK ``StandardError`` or a dict) as a per-record error."""
    if not isinstance(err, Mapping):
        err = plain(err)
        err = err if isinstance(err, Mapping) else {}
    category = err.get("category")
    status: int | None = None
    raw_status = err.get("status")
    if isinstance(raw_status, int) or (isinstance(raw_status, str) and raw_status.isdigit()):
        status = int(raw_status)
    status = status or _STATUS_OF_CATEGORY.get(str(category)) or status_hint or 400
    details = _details(err)
    return RecordError(
        code=str(category or f"HTTP_{status}"), message=str(err.get("message") or "rejected by HubSpot"),
        status=status, fields=_fields_of(err), retryable=status == 429 or status >= 500, details=details,
    )
