"""Faults injected on the sandbox (never by patching), and sqlite3 errors translated at its edge."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

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


class _Translated:
    """sqlite3 errors leave the adapter as CRMError subclasses; a lock is retryable. A class rather
    than a generator-based context manager: every adapter call enters one, and this is cheaper."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None:
            return False
        if isinstance(exc, sqlite3.OperationalError):
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise UnavailableError(f"sandbox database is busy: {text}", code="UNABLE_TO_LOCK_ROW",
                                       status=503) from exc
            raise CRMError(f"sandbox database error: {text}", code="sandbox_error") from exc
        if isinstance(exc, sqlite3.Error):
            raise CRMError(f"sandbox database error: {exc}", code="sandbox_error") from exc
        if isinstance(exc, UnicodeError):  # e.g. a lone surrogate in an id: SQLite only stores UTF-8
            raise CRMValidationError(f"text is not valid Unicode: {exc}", code="invalid_text", status=400) from exc
        return False


_TRANSLATED = _Translated()  # holds no state: one instance serves every call and thread


def translated() -> _Translated:
    """A context manager translating sqlite3 (and Unicode) errors into CRMError subclasses."""
    return _TRANSLATED


class ProcessKilled(BaseException):
    """Raised by the ``process_killed`` fault: the process dies mid-call (no handler may record a
    result), as a SIGKILL would. A BaseException so that ``except Exception`` does not catch it."""


@dataclass
class Fault:
    method: str
    code: str
    record_id: str | None
    times: int
    whole_call: bool
    status: int
    message: str
    retry_after: float | None
    after: int
    after_write: bool = False  # the chunk is written, then the error comes (a lost or 5xx reply)

    def error(self) -> CRMError:
        if self.code == "process_killed":
            raise ProcessKilled(self.message)
        by_code: dict[str, type[CRMError]] = {
            "connection_error": TransportError, "timeout": TransportError, "malformed_response": ResponseError,
            "rate_limited": RateLimitError, "quota_exhausted": QuotaExhaustedError, "UNAVAILABLE": UnavailableError,
        }
        by_status: dict[int, type[CRMError]] = {
            400: CRMValidationError, 401: AuthenticationError, 403: PermissionDeniedError,
            404: NotFoundError, 412: PreconditionFailedError, 429: RateLimitError,
        }
        cls = by_code.get(self.code) or by_status.get(self.status)
        cls = cls or (UnavailableError if self.status >= 500 else CRMError)
        status = None if cls is TransportError else self.status  # no HTTP answer on a dead connection
        if issubclass(cls, RateLimitError):
            err: CRMError = cls(self.message, retry_after=self.retry_after, code=self.code, status=status)
        else:
            err = cls(self.message, code=self.code, status=status)
        err.ambiguous = self.after_write  # the sandbox knows whether it wrote the chunk
        return err

    def record_error(self) -> RecordError:
        return RecordError(self.code, self.message, self.status, retryable=self.status >= 500 or self.status == 429)
