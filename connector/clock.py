"""Injected time and identity: every timestamp and id the connector makes comes from here."""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from crmgate.errors import CrmgateError

Clock = Callable[[], datetime]
IdFactory = Callable[[str], str]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: a random byte -> the Crockford digit of its low 5 bits (bytes.translate: 15 digits in one call)
_DIGIT_OF_BYTE = bytes(ord(_CROCKFORD[b & 31]) for b in range(256))
_time = time.time
_urandom = os.urandom
_ID_BYTES = 17  # the random bytes one id takes (80 bits of them used)
_POOL_SIZE = _ID_BYTES * 240  # read from the OS at once: one read per id cost a third of an id
_pool_lock = threading.Lock()
_pool: list = [b"", 0]  # random bytes read ahead, and how many of them are used
#: (millisecond, the id's first 9 digits, its 10th digit's time bits): ids made within one
#: millisecond share them (a tuple, replaced whole)
_head: tuple[int, str, int] = (-1, "", 0)


def _forget_pool() -> None:
    _pool[:] = [b"", 0]  # a forked child must not hand out the random bytes its parent will


os.register_at_fork(after_in_child=_forget_pool)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    """ISO-8601 UTC with microseconds and a ``Z``: sortable as text, the trail's format."""
    if dt.tzinfo is timezone.utc and dt.year >= 1000:  # the clock's own: the same text, without strftime's cost
        return f"{dt.isoformat(timespec='microseconds')[:26]}Z"
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id(prefix: str) -> str:
    """``prefix_`` + a ULID-style id: 48-bit millisecond time then 80 random bits, Crockford base32.

    Sorts by creation time, so ids in the trail read in order; collision odds are negligible.
    """
    # the 128 bits left-aligned in 26 digits of 5 bits (the last digit's 2 low bits are zero), as
    # base32 of the 16 bytes writes them, so old and new ids sort together: 45 time bits in 9
    # digits, 3 time and 2 random bits, 15 random digits, 3 random bits and 2 zeros. Random bytes
    # are read from the OS ahead, and each maps its low bits to a digit (one translate for 15)
    global _head
    ms = int(_time() * 1000)
    head = _head
    if head[0] != ms:
        t = ms >> 3
        head = _head = (ms, "".join([_CROCKFORD[(t >> s) & 31] for s in range(40, -1, -5)]), (ms & 7) << 2)
    with _pool_lock:
        pool, used = _pool
        if used >= len(pool):
            pool, used = _urandom(_POOL_SIZE), 0
            _pool[0] = pool
        _pool[1] = used + _ID_BYTES
    r = pool[used:used + _ID_BYTES]
    return (f"{prefix}_{head[1]}{_CROCKFORD[head[2] | (r[0] & 3)]}"
            f"{r[1:16].translate(_DIGIT_OF_BYTE).decode()}{_CROCKFORD[(r[16] & 7) << 2]}")


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
