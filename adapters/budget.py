"""One budget for calls against a shared allowance: moving windows and trips, on the ``limits`` library.

Every limit crmgate keeps -- HubSpot's rolling window, its search window, the HTTP server's
per-credential request quotas -- is a *moving window*: at most ``limit`` hits of one key in any
``per_seconds``. The counting is ``limits``' :class:`~limits.strategies.MovingWindowRateLimiter`;
where the hits are kept is a ``limits`` storage, so workers that share a storage share the budget:

* :class:`MemoryWindows`: this process only (the default, and enough for one worker);
* :class:`RedisWindows`: a Redis server (``budget.storage: redis://...``);
* ``crmgate.budget.SqlWindows``: the trail store's own PostgreSQL database (wired by the connector).

A storage may also offer ``acquire_counted(key, limit, expiry, amount)`` -> ``(taken, start, hits)``:
the hit and the window it leaves (its oldest hit, how many) in one step, so :meth:`Budget.spend`
costs one round trip (one transaction on SQL) where ``limits`` takes two.

A *trip* is a shared stop sign with an expiry (a spent daily allowance): :meth:`Budget.trip` sets it
for every worker on the storage, :meth:`Budget.tripped` reads it.

Time is the injected ``clock`` (seconds), counted by the storages in ticks of :data:`TICK` seconds,
because ``limits`` windows are whole numbers of its time unit and HubSpot needs 10.5 s. Adapters
take a :class:`Budget` as a parameter; they never build a shared one themselves.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from limits import RateLimitItemPerSecond
from limits.storage import MovingWindowSupport, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

#: one storage tick, in seconds (the resolution of every window)
TICK = 0.1
Clock = Callable[[], float]


class Budget(Protocol):
    """Moving windows and trips shared by every holder of the same storage (see the module docstring)."""

    def take(self, key: str, limit: int, per_seconds: float) -> float:
        """Spend one hit of ``key`` if it fits: 0.0; else the seconds until one fits (nothing spent)."""
        ...

    def spend(self, key: str, limit: int, per_seconds: float, amount: int = 1) -> tuple[float, int]:
        """:meth:`take` of ``amount`` hits at once (all or none), with the hits left once they are
        spent: ``(0.0, left)``, or ``(wait, 0)``."""
        ...

    def peek(self, key: str, limit: int, per_seconds: float) -> tuple[int, float]:
        """(hits left now, seconds until one more fits), spending nothing."""
        ...

    def trip(self, key: str, seconds: float) -> None:
        """Raise the stop sign ``key`` for ``seconds``, for every holder of the storage."""
        ...

    def tripped(self, key: str, seconds: float) -> bool:
        """Whether ``key`` was tripped (with the same ``seconds``) less than ``seconds`` ago."""
        ...


class MovingWindowStorage(Storage, MovingWindowSupport):
    """A ``limits`` storage that only keeps moving windows: the counter half of the storage
    interface (used by fixed windows, which crmgate does not use) is refused."""

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:  # pragma: no cover
        raise NotImplementedError

    def get(self, key: str) -> int:  # pragma: no cover
        raise NotImplementedError

    def get_expiry(self, key: str) -> float:  # pragma: no cover
        raise NotImplementedError


class MemoryWindows(MovingWindowStorage):
    """A ``limits`` moving-window storage in this process, on an injected clock (in ticks)."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @property
    def base_exceptions(self) -> type[Exception]:  # pragma: no cover - nothing here raises
        return RuntimeError

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        return self.acquire_counted(key, limit, expiry, amount)[0]

    def acquire_counted(self, key: str, limit: int, expiry: int, amount: int = 1) -> tuple[bool, float, int]:
        with self._lock:
            now = self.clock()
            events = self._events.setdefault(key, deque(maxlen=limit))
            while events and events[-1] <= now - expiry:  # oldest last: drop what left the window
                events.pop()
            taken = amount <= limit and len(events) <= limit - amount
            if taken:
                events.extendleft([now] * amount)  # newest first, as limits keeps them
            return taken, (events[-1] if events else now), len(events)

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        with self._lock:
            now = self.clock()
            inside = [t for t in self._events.get(key, ()) if t > now - expiry]
            return (inside[-1], len(inside)) if inside else (now, 0)

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            n = len(self._events)
            self._events.clear()
            return n

    def clear(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)


class RedisWindows(RedisStorage):
    """``limits``' Redis storage, its timestamps taken from the injected clock (in ticks).

    The key's Redis TTL is the window in ticks read as seconds: ten times longer than needed,
    which only keeps an idle key a little longer (each list holds at most ``limit`` entries)."""

    def __init__(self, uri: str, clock: Clock, **options: Any) -> None:
        super().__init__(uri, **options)
        self.clock = clock

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        return bool(self.lua_acquire_moving_window([self.prefixed_key(key)], [self.clock(), limit, expiry, amount]))

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = self.clock()
        if window := self.lua_moving_window([self.prefixed_key(key)], [now - expiry, limit]):
            return float(window[0]), int(window[1])
        return now, 0


class WindowBudget:
    """A :class:`Budget` over any ``limits`` moving-window storage whose clock counts ticks.

    Build with :meth:`memory` or :meth:`redis`, or pass a storage (the connector's SQL one)."""

    def __init__(self, storage: MovingWindowSupport, *, clock: Clock = time.time, namespace: str = "crmgate") -> None:
        self.storage, self.clock, self.namespace = storage, clock, namespace
        self._limiter = MovingWindowRateLimiter(storage)  # type: ignore[arg-type]
        self._items: dict[tuple[int, float], RateLimitItemPerSecond] = {}

    @classmethod
    def memory(cls, clock: Clock = time.time) -> "WindowBudget":
        return cls(MemoryWindows(lambda: clock() / TICK), clock=clock)

    @classmethod
    def redis(cls, uri: str, clock: Clock = time.time, *, namespace: str = "crmgate") -> "WindowBudget":
        return cls(RedisWindows(uri, lambda: clock() / TICK), clock=clock, namespace=namespace)

    def _item(self, limit: int, per_seconds: float) -> RateLimitItemPerSecond:
        item = self._items.get((limit, per_seconds))
        if item is None:
            if limit < 1 or per_seconds <= 0:
                raise ValueError(f"a window needs at least 1 hit per a positive time, not {limit}/{per_seconds}")
            ticks = max(1, math.ceil(round(per_seconds / TICK, 6)))
            item = self._items[(limit, per_seconds)] = RateLimitItemPerSecond(limit, ticks, namespace=self.namespace)
        return item

    def take(self, key: str, limit: int, per_seconds: float) -> float:
        return self.spend(key, limit, per_seconds)[0]

    def spend(self, key: str, limit: int, per_seconds: float, amount: int = 1) -> tuple[float, int]:
        item = self._item(limit, per_seconds)
        counted = getattr(self.storage, "acquire_counted", None)
        if counted is None:  # limits' own storages: the hits, then the window
            if self._limiter.hit(item, key, cost=amount):
                return 0.0, self.peek(key, limit, per_seconds)[0]
            return self._wait(item, key), 0
        taken, start, hits = counted(item.key_for(key), item.amount, item.get_expiry(), amount)
        if taken:
            return 0.0, max(0, limit - hits)
        return self._until(start, item), 0

    def peek(self, key: str, limit: int, per_seconds: float) -> tuple[int, float]:
        item = self._item(limit, per_seconds)
        stats = self._limiter.get_window_stats(item, key)
        return max(0, stats.remaining), (0.0 if stats.remaining > 0 else self._wait(item, key))

    def _wait(self, item: RateLimitItemPerSecond, key: str) -> float:
        start, _n = self.storage.get_moving_window(item.key_for(key), item.amount, item.get_expiry())
        return self._until(start, item)

    def _until(self, start: float, item: RateLimitItemPerSecond) -> float:
        """Seconds until the window's oldest hit, at ``start`` (ticks), leaves it at start + expiry."""
        return max(TICK, (start + item.get_expiry()) * TICK - self.clock())

    def trip(self, key: str, seconds: float) -> None:
        item = self._item(1, seconds)
        self.storage.acquire_entry(item.key_for(f"trip:{key}"), 1, item.get_expiry())

    def tripped(self, key: str, seconds: float) -> bool:
        item = self._item(1, seconds)
        return self.storage.get_moving_window(item.key_for(f"trip:{key}"), 1, item.get_expiry())[1] > 0


def wait_for(budget: Budget, key: str, limit: int, per_seconds: float, sleep: Callable[[float], None]) -> float:
    """Block (with ``sleep``) until one hit of ``key`` is spent; the seconds waited."""
    waited = 0.0
    while (delay := budget.take(key, limit, per_seconds)) > 0:
        sleep(delay)
        waited += delay
    return waited
