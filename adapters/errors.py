"""The adapter error tree. Vendor exceptions are translated into these at the adapter boundary.

::

    CRMError                     any failure talking to a CRM; carries code, message, status, fields
    ├── AdapterConfigError       the adapter's settings or credentials are missing or wrong
    ├── TransportError           connection refused/reset, timeout: retryable
    ├── ResponseError            the CRM answered something we cannot parse: not retryable
    ├── AuthenticationError      401 / expired session / bad token: not retryable
    ├── PermissionDeniedError    403 other than rate limits: not retryable
    ├── NotFoundError            the record or endpoint does not exist
    ├── PreconditionFailedError  the record changed since the stamp we hold (412): a conflict
    ├── CRMValidationError       the CRM rejected the values (required field, bad field, custom rule)
    ├── UnavailableError         5xx, row lock: retryable
    └── RateLimitError           throttled; ``retry_after`` seconds when the CRM said
        └── QuotaExhaustedError  the daily/org allowance is spent: stop the run, do not retry

Ambiguity: a write whose call failed *after it may have been sent* (connection lost, timeout, 5xx,
an unreadable answer) has an effect nobody can know. Such an error has ``ambiguous`` true
(``TransportError``, ``UnavailableError`` other than a row lock, ``ResponseError``), and so has its
:class:`RecordError`; the pipeline records those writes as ``unknown``, never as ``failed``.
An adapter that knows the request was never sent (or certainly not applied) sets it to false.

Per-record failures inside a batch are not raised: they come back as :class:`RecordError` in a
:class:`crmgate.adapters.base.WriteResult`. Whole-call failures are raised as one of the classes above.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


class CRMError(Exception):
    """Base of every error an adapter raises. ``retryable`` says whether trying again may help."""

    retryable: bool = False
    #: a write that failed this way may or may not have been applied (see the module docstring)
    ambiguous: bool = False
    default_code: str = "crm_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: tuple[str, ...] | list[str] = (),
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.status = status
        self.fields = tuple(fields)
        self.details = dict(details or {})
        if self.code == "UNABLE_TO_LOCK_ROW":  # a row lock refuses the write before applying it
            self.ambiguous = False

    def to_record_error(self) -> "RecordError":
        return RecordError(
            code=self.code,
            message=self.message,
            status=self.status,
            fields=self.fields,
            retryable=self.retryable,
            details=self.details,
            ambiguous=self.ambiguous,
        )

    def to_dict(self) -> dict[str, Any]:
        return self.to_record_error().to_dict() | {"error_class": type(self).__name__}


class AdapterConfigError(CRMError):
    default_code = "invalid_crm_config"


class TransportError(CRMError):
    retryable = True
    ambiguous = True
    default_code = "transport_error"


class ResponseError(CRMError):
    ambiguous = True
    default_code = "malformed_response"


class AuthenticationError(CRMError):
    default_code = "authentication_failed"


class PermissionDeniedError(CRMError):
    default_code = "permission_denied"


class NotFoundError(CRMError):
    default_code = "not_found"


class PreconditionFailedError(CRMError):
    default_code = "precondition_failed"


class CRMValidationError(CRMError):
    default_code = "validation_failed"


class UnavailableError(CRMError):
    retryable = True
    ambiguous = True
    default_code = "unavailable"


class RateLimitError(CRMError):
    retryable = True
    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class QuotaExhaustedError(RateLimitError):
    retryable = False
    default_code = "quota_exhausted"


@dataclass(frozen=True, slots=True)
class RecordError:
    """Why one record in a batch was not written. ``code`` keeps the CRM's own error code."""

    code: str
    message: str
    status: int | None = None
    fields: tuple[str, ...] = ()
    retryable: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    #: the write may have been applied (see the module docstring): recorded as ``unknown``
    ambiguous: bool = False

    def certain(self) -> "RecordError":
        """This error, known not to have applied anything (e.g. the request was never sent)."""
        return replace(self, ambiguous=False) if self.ambiguous else self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.ambiguous:
            out["ambiguous"] = True
        if self.status is not None:
            out["status"] = self.status
        if self.fields:
            out["fields"] = list(self.fields)
        if self.details:
            out["details"] = self.details
        return out
