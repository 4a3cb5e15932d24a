"""Retries in one place, on tenacity: which errors, how long to wait, when to give up.

Only errors whose ``retryable`` is true are retried (:class:`~crmgate.adapters.errors.TransportError`,
:class:`~crmgate.adapters.errors.UnavailableError`, :class:`~crmgate.adapters.errors.RateLimitError` but not
:class:`~crmgate.adapters.errors.QuotaExhaustedError`); conflicts and validation errors never are. The wait
honours the CRM's ``retry_after`` when it gave one, else capped exponential backoff plus jitter.
``sleep`` and ``jitter`` are injected so tests assert the exact waits without waiting.
"""
from __future__ import annotations

import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from crmgate.adapters.errors import CRMError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` counts the first try. Waits: ``initial * 2**(n-1)`` capped at ``maximum``, plus
    ``jitter * U[0,1)``; a ``retry_after`` replaces that wait, capped at ``max_retry_after``."""

    attempts: int = 5
    initial: float = 0.5
    maximum: float = 30.0
    jitter: float = 0.25
    max_retry_after: float = 120.0


def should_retry(exc: BaseException) -> bool:
    return isinstance(exc, CRMError) and exc.retryable


class BackoffWait:
    """A tenacity ``wait`` that prefers the CRM's Retry-After."""

    def __init__(self, policy: RetryPolicy, jitter: Callable[[], float]) -> None:
        self.policy, self.jitter = policy, jitter

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), self.policy.max_retry_after)
        base = min(self.policy.initial * 2 ** (state.attempt_number - 1), self.policy.maximum)
        return base + self.policy.jitter * self.jitter()


def retrying(policy: RetryPolicy | None = None, *, sleep: Callable[[float], None] = time.sleep,
             jitter: Callable[[], float] = _random.random) -> Retrying:
    """A configured ``tenacity.Retrying``; call it as ``retrying(...)(fn, *args)``. Re-raises the
    last error itself (``reraise=True``) so callers see the CRM's error, not a RetryError."""
    policy = policy or RetryPolicy()
    return Retrying(stop=stop_after_attempt(policy.attempts), wait=BackoffWait(policy, jitter),
                    retry=retry_if_exception(should_retry), sleep=sleep, reraise=True)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as delta-seconds or an HTTP-date; None when absent or unreadable."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
