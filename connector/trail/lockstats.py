"""What the trail store measures about its appends (:class:`LockStats`); no behaviour hangs on it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class LockStats:
    """How long appends waited for the trail head lock and held it (held: until the commit
    returned), summed since the store was opened, and how many times an append waited for the
    disk (``flushes``: SQLite WAL fsyncs, PostgreSQL flushing commits); for profiles, benchmarks
    and tests."""

    appends: int = 0
    waited_s: float = 0.0
    held_s: float = 0.0
    flushes: int = 0

    def add(self, waited: float, held: float) -> None:
        self.appends += 1
        self.waited_s += waited
        self.held_s += held
