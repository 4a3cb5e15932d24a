"""Injected time and identity: every timestamp and id the connector makes comes from here."""
from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import datetime, timezone

from crmgate.errors import CrmgateError

Clock = Callable[[], datetime]
IdFactory = Callable[[str], str]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# every 10-bit value as its two Crockford digits: an id is 13 look-ups (base64's pure-Python
# b32encode plus a translate cost ~30 us an id, 3 ids per proposal)
_PAIRS = tuple(a + b for a in _CROCKFORD for b in _CROCKFORD)
_randbits = secrets.randbits
_time = time.time


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    """ISO-8601 UTC with microseconds and a ``Z``: sortable as text, the trail's format."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id(prefix: str) -> str:
    """``prefix_`` + a ULID-style id: 48-bit millisecond time then 80 random bits, Crockford base32.

    Sorts by creation time, so ids in the trail read in order; collision odds are negligible.
    """
    # the 128 bits left-aligned in 26 digits of 5 bits (the last digit's 2 low bits are zero):
    # the same text base32 of the 16 bytes gave, so old and new ids sort together
    v = ((int(_time() * 1000) << 80) | _randbits(80)) << 2
    p = _PAIRS
    return (f"{prefix}_{p[v >> 120]}{p[(v >> 110) & 1023]}{p[(v >> 100) & 1023]}{p[(v >> 90) & 1023]}"
            f"{p[(v >> 80) & 1023]}{p[(v >> 70) & 1023]}{p[(v >> 60) & 1023]}{p[(v >> 50) & 1023]}"
            f"{p[(v >> 40) & 1023]}{p[(v >> 30) & 1023]}{p[(v >> 20) & 1023]}{p[(v >> 10) & 1023]}"
            f"{p[v & 1023]}")


def parse_time(value: str | datetime | None, *, name: str = "time") -> str | None:
    """A user's ISO-8601 time (``2026-11-22``, ``2026-11-22T09:00:00Z``, with or without an offset;
    naive means UTC) in the trail's stored form, so it compares correctly with ``ts``.

    Bad input is a :class:`CrmgateError` with code ``invalid_time`` naming the option.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise CrmgateError(f"--{name}: {value!r} is not an ISO-8601 date or time "
                               "(e.g. 2026-11-22T09:00:00Z)", code="invalid_time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return iso(moment)
