"""SystemModstamp versions, their one-second resolution, and the log of recent reads.

Salesforce stamps ``SystemModstamp`` (``2026-11-22T09:00:00.000+0000``) to the second, and
``If-Unmodified-Since`` compares at one-second resolution. So a version read during the same
second it was stamped is *unsettled*: another write later in that second would leave the stamp
(and the precondition) unchanged. :class:`ReadLog` remembers, per record, the version and fields
the adapter last read, when (by the injected clock) and the server's ``Date`` of that read, so
the adapter can tell a settled, recent before-image from one that must be re-checked.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from typing import Any

_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z")


def parse_stamp(value: str) -> datetime | None:
    """A Salesforce datetime (``...+0000`` or ``...Z``) as an aware UTC datetime; None if odd."""
    if not isinstance(value, str):
        return None
    return _parse_stamp(value)


@lru_cache(maxsize=4096)  # records read together share stamps; strptime was most of a retrieve's cost
def _parse_stamp(value: str) -> datetime | None:
    text = value.strip().replace("Z", "+0000")
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt).astimezone(UTC)
        except ValueError:
            continue
    return None


def http_date(moment: datetime) -> str:
    """RFC 7231 date for ``If-Unmodified-Since`` (whole seconds, GMT)."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Seen:
    version: str
    fields: Mapping[str, Any]  # only for an unsettled read (empty otherwise)
    read_at: datetime  # the adapter's clock when the answer arrived
    unsettled: bool  # stamped in the same second as the server's Date of the read
    names: frozenset[str] | None = None  # the fields the read asked for (None: every readable field)


class ReadLog:
    """The last read of each record, bounded (oldest forgotten first). Thread-safe: the chunks of
    one adapter call may be in flight on several threads."""

    def __init__(self, limit: int = 50_000) -> None:
        self._seen: OrderedDict[tuple[str, str], Seen] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def remember(self, object: str, id: str, version: str, fields: Mapping[str, Any],
                 read_at: datetime, server_date: datetime | None, names: frozenset[str] | None = None) -> None:
        stamp = parse_stamp(version)
        # no Date header: we cannot prove the same second, so the read counts as settled
        unsettled = bool(stamp and server_date and stamp.replace(microsecond=0) >= server_date.replace(microsecond=0))
        key = (object, id)
        # the fields are compared only for an unsettled read: keep a copy only then
        seen = Seen(version, dict(fields) if unsettled else {}, read_at, unsettled, names)
        with self._lock:
            self._seen.pop(key, None)
            self._seen[key] = seen
            while len(self._seen) > self._limit:
                self._seen.popitem(last=False)

    def get(self, object: str, id: str) -> Seen | None:
        with self._lock:
            return self._seen.get((object, id))

    def forget(self, object: str, id: str) -> None:
        with self._lock:
            self._seen.pop((object, id), None)
