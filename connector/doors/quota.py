"""Per-credential request limits: one runaway agent must not spend the CRM's API allowance.

A moving window per credential: at most ``limit`` requests in any ``per_seconds``. A request that
finds the window full is refused with the seconds until its oldest request leaves it (the HTTP API
answers 429 with ``Retry-After``). The windows live in the gate's budget, so the server's worker
processes enforce one limit together.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from crmgate.adapters.budget import Budget, WindowBudget


@dataclass(frozen=True, slots=True)
class Admission:
    allowed: bool
    limit: int
    remaining: int
    retry_after: float  # seconds until one more request fits; 0 when allowed

    def headers(self) -> dict[str, str]:
        out = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining)}
        if not self.allowed:
            out["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return out


class RequestLimiter:
    """Moving windows keyed by credential id, in a :class:`~crmgate.adapters.budget.Budget`: the
    gate's, so every worker of one store shares them (see :mod:`crmgate.budget`); this process's
    own when none is given. ``clock`` is seconds, injected for tests."""

    def __init__(self, *, default_limit: int = 120, per_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, budget: Budget | None = None) -> None:
        if default_limit < 1 or per_seconds <= 0:
            raise ValueError("a request limit needs at least 1 request per a positive number of seconds")
        self.default_limit, self.per_seconds = default_limit, per_seconds
        self.budget = budget if budget is not None else WindowBudget.memory(clock)

    def take(self, key: str, limit: int | None = None) -> Admission:
        """Spend one request of ``key``'s window (``limit`` per window; the default when None)."""
        limit = limit or self.default_limit
        wait, left = self.budget.spend(f"quota:{key}", limit, self.per_seconds)  # one round trip
        return Admission(not wait, limit, left, wait)

    def peek(self, key: str, limit: int | None = None) -> Admission:
        """Whether one more request of ``key`` would fit now, spending nothing."""
        limit = limit or self.default_limit
        left, wait = self.budget.peek(f"quota:{key}", limit, self.per_seconds)
        return Admission(left > 0, limit, left, wait)
