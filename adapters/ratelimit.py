"""A client-side rolling-window rate limiter: at most ``requests`` calls in any ``per_seconds``.

HubSpot counts a private app's requests in a rolling 10-second window (190 on Pro/Enterprise) and
answers 429 past it. Waiting on our side before a call is cheaper than living on 429s: a 429 costs a
round trip and, unless Retry-After is exact, a longer wait than needed.

The limiter keeps a time for each of the last ``requests`` calls. :meth:`RollingWindow.acquire`
returns at once while fewer than ``requests`` calls are within the window; otherwise it sleeps until
the oldest one leaves the window (exactly ``oldest + per_seconds - now``) and checks again. A call's
time is its start, moved to its end by :meth:`RollingWindow.done`: HubSpot counts a request when it
arrives, somewhere between our send and our receipt, so counting from the receipt can never let a
call in before the server's window has room, whatever the latency (counting from the send did: a
run at the limit then met a 429 now and then).
``clock`` (seconds, monotonic) and ``sleep`` are injected so tests assert the exact waits.
One limiter may be shared by threads; several *processes* sharing one token need a share each
(``requests`` divided between them), as the limiter cannot see the others' calls.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class Slot:
    """One call's place in the window; ``at`` is when it started, then when it ended."""

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at


class RollingWindow:
    """At most ``requests`` calls within any ``per_seconds`` interval (see the module docstring)."""

    def __init__(self, requests: int = 190, per_seconds: float = 10.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not isinstance(requests, int) or isinstance(requests, bool) or requests < 1:
            raise ValueError(f"requests must be a positive integer, not {requests!r}")
        if not isinstance(per_seconds, (int, float)) or isinstance(per_seconds, bool) or not per_seconds > 0:
            raise ValueError(f"per_seconds must be a positive number, not {per_seconds!r}")
        self.requests = requests
        self.per_seconds = float(per_seconds)
        self._clock = clock
        self._sleep = sleep
        self._slots: deque[Slot] = deque()
        self._lock = threading.Lock()
        #: total seconds spent waiting, and how many acquires had to wait (for reports)
        self.waited = 0.0
        self.waits = 0

    def acquire(self) -> Slot:
        """Block until one more call fits in the window and record it; ``slot.waited`` is not kept:
        the seconds waited are added to :attr:`waited`. Pass the slot to :meth:`done` afterwards."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._expire(now)
                if len(self._slots) < self.requests:
                    slot = Slot(now)
                    self._slots.append(slot)
                    if waited:
                        self.waited += waited
                        self.waits += 1
                    return slot
                # slots end out of order when calls overlap: wait for the earliest one
                delay = min(s.at for s in self._slots) + self.per_seconds - now
            # sleep outside the lock so other threads can still see the window
            self._sleep(delay)
            waited += delay

    def done(self, slot: Slot) -> None:
        """The call of ``slot`` has its answer: it counts from now on."""
        with self._lock:
            slot.at = max(slot.at, self._clock())

    def remaining(self) -> int:
        """Calls that may start now without waiting."""
        with self._lock:
            self._expire(self._clock())
            return self.requests - len(self._slots)

    def _expire(self, now: float) -> None:
        if any(s.at <= now - self.per_seconds for s in self._slots):
            self._slots = deque(s for s in self._slots if s.at > now - self.per_seconds)
