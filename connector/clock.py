"""Injected time and identity: every timestamp and id the connector makes comes from here."""
from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timezone

from crmgate.errors import CrmgateError

Clock = Callable[[], datetime]
IdFactory = Callable[[str], str]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# RFC 4648 base32 digit i -> Crockford digit i: the same bits, in an alphabet that sorts in ASCII
_TO_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _CROCKFORD)


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
    text = base64.b32encode(value.to_bytes(16, "big")).decode("ascii").rstrip("=")
    return f"{prefix}_{text.translate(_TO_CROCKFORD)}"


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
