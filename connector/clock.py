"""Injected time and identity: every timestamp and id the connector makes comes from here."""
from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timezone

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
