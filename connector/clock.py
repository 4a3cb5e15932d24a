"""Injected time and identity: every timestamp and id the connector makes comes from here."""
from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import datetime, timezone

Clock = Callable[[], datetime]
IdFactory = Callable[[str], str]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    """ISO-8601 UTC with microseconds and a ``Z``: sortable as text, the trail's format."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id(prefix: str) -> str:
    """``prefix_`` + a ULID-style id: 48-bit millisecond time then 80 random bits, Crockford base32.

    Sorts by creation time, so ids in the trail read in order; collision odds are negligible.
    """
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_CROCKFORD[rem])
    return f"{prefix}_{''.join(reversed(chars))}"
