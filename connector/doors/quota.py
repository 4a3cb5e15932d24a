"""Per-credential request limits: one runaway agent must not spend the CRM's API allowance.

A token bucket per credential: ``limit`` requests per ``per_seconds`` on average, with bursts of
up to ``limit``. A request that finds the bucket empty is refused with the seconds until one more
fits (the HTTP API answers 429 with ``Retry-After``). The buckets live in the process: several
server processes each enforce the limit on their own share of the traffic.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


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
    """Token buckets keyed by credential id; ``clock`` is monotonic seconds, injected for tests."""

    #: buckets kept before full ones (idle for a whole window) are forgotten
    MAX_KEYS = 10_000

    def __init__(self, *, default_limit: int = 120, per_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if default_limit < 1 or per_seconds <= 0:
            raise ValueError("a request limit needs at least 1 request per a positive number of seconds")
        self.default_limit, self.per_seconds, self._clock = default_limit, per_seconds, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str, limit: int | None = None) -> Admission:
        """Spend one request of ``key``'s bucket (``limit`` per window; the default when None)."""
        return self._admit(key, limit, spend=True)

    def peek(self, key: str, limit: int | None = None) -> Admission:
        """Whether one more request of ``key`` would fit now, spending nothing."""
        return self._admit(key, limit, spend=False)

    def _admit(self, key: str, limit: int | None, *, spend: bool) -> Admission:
        limit = limit or self.default_limit
        rate = limit / self.per_seconds
        now = self._clock()
        with self._lock:
            if key not in self._buckets and len(self._buckets) >= self.MAX_KEYS:
                self._forget_idle(now)
            tokens, at = self._buckets.get(key, (float(limit), now))
            tokens = min(float(limit), tokens + (now - at) * rate)
            if tokens >= 1.0:
                if spend:
                    self._buckets[key] = (tokens - 1.0, now)
                return Admission(True, limit, int(tokens - spend), 0.0)
            self._buckets[key] = (tokens, now)
            return Admission(False, limit, 0, (1.0 - tokens) / rate)

    def _forget_idle(self, now: float) -> None:
        """Drop buckets untouched for a whole window: they are full again, as a new bucket is."""
        for key in [k for k, (_tokens, at) in self._buckets.items() if now - at >= self.per_seconds]:
            del self._buckets[key]
