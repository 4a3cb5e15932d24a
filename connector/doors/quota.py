"""Per-credential request limits: one runaway agent must not spend the CRM's API allowance.

A moving window per credential: at most ``limit`` requests in any ``per_seconds``. A request that
finds the window full is refused with the seconds until its oldest request leaves it (the HTTP API
answers 429 with ``Retry-After``). The windows live in the gate's budget, so the server's worker
processes enforce one limit together.

A limit of :data:`BATCH_FROM` requests or more (a credential meant to be unlimited, in effect) is
taken from the shared window in batches, so that most requests make no call to the budget (one
round trip to the store each): a batch of ``limit // 10,000`` requests (at most
:data:`BATCH_MAX`) is spent in the window at once, then handed out here, each request of it only
while its hits are still in the window. Every admitted request was spent in the window less than
``per_seconds`` before it, so in any window the workers together admit at most the limit plus
the requests each holds unspent (a batch each: 0.01% of the limit per worker). Below
:data:`BATCH_FROM` every request is spent in the window one by one, exactly as before.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from crmgate.adapters.budget import Budget, WindowBudget

#: limits from which requests are spent in the shared window in batches (see the module docstring)
BATCH_FROM = 100_000
#: the most requests one batch holds
BATCH_MAX = 50


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
        self.default_limit, self.per_seconds, self.clock = default_limit, per_seconds, clock
        self.budget = budget if budget is not None else WindowBudget.memory(clock)
        #: key -> (requests held, usable until (``clock``), the window's remaining when spent)
        self._held: dict[str, tuple[int, float, int]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, limit: int | None = None) -> Admission:
        """Spend one request of ``key``'s window (``limit`` per window; the default when None)."""
        limit = limit or self.default_limit
        batch = min(BATCH_MAX, limit // 10_000) if limit >= BATCH_FROM else 1
        if batch > 1:
            admission = self._from_batch(key, limit, batch)
            if admission is not None:
                return admission
        wait, left = self.budget.spend(f"quota:{key}", limit, self.per_seconds)  # one round trip
        return Admission(not wait, limit, left, wait)

    def _from_batch(self, key: str, limit: int, batch: int) -> Admission | None:
        """One request of a batch held here, spending a new batch when none is left; None when
        the window has no room for a whole batch: then the
        request is spent alone."""
        with self._lock:
            now = self.clock()
            held, until, left = self._held.get(key, (0, 0.0, 0))
            if held > 0 and now < until:
                self._held[key] = (held - 1, until, left)
                return Admission(True, limit, left + held - 1, 0.0)
        wait, spent = self.budget.spend(f"quota:{key}", limit, self.per_seconds, batch)  # all or none
        if wait:
            return None
        with self._lock:
            held, until, _left = self._held.get(key, (0, 0.0, 0))
            if held <= 0 or now >= until:  # what was held has left the window: it is dropped
                held, until = 0, now + self.per_seconds
            self._held[key] = (held + batch - 1, until, spent)
            return Admission(True, limit, spent + held + batch - 1, 0.0)

    def peek(self, key: str, limit: int | None = None) -> Admission:
        """Whether one more request of ``key`` would fit now, spending nothing."""
        limit = limit or self.default_limit
        left, wait = self.budget.peek(f"quota:{key}", limit, self.per_seconds)
        return Admission(left > 0, limit, left, wait)
