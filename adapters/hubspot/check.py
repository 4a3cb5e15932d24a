"""Check-then-write for HubSpot, which has no conditional writes: which records to re-read before a
write, and what the property history says after it.

Before writing (:func:`plan_checks`): a record whose before-image this adapter read itself less than
``recheck_after`` seconds ago is checked against that read (no call: the pipeline's ``get_many`` of
the same round *is* the check); any other record carrying ``expected_version`` (an approval written
hours later, another process's read) is re-read in batches and compared. Deletes are always re-read:
an archive cannot be undone through the API and HubSpot answers 204 even for unknown ids. A record that moved is a ``conflict`` and is not written.

After writing (:func:`history_race`, opt-in ``verify: history``): the history of the written
properties and of the last-modified stamp, read back, shows any write by another source between the
version we checked and our own write. That write was not prevented (HubSpot cannot), but it is
flagged in ``WriteResult.info["race"]`` and so in the trail.
"""
from __future__ import annotations

import threading

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmgate.adapters.hubspot.records import stamp


_SEEN_LOCK = threading.Lock()


@dataclass
class Seen:
    """The versions this adapter read or wrote, and when (its own monotonic clock)."""

    limit: int = 100_000
    entries: OrderedDict[tuple[str, str], tuple[str, float]] = field(default_factory=OrderedDict)

    def put(self, object: str, id: str, version: str, at: float) -> None:
        key = (object, id)
        with _SEEN_LOCK:  # reads in flight at once put from several threads
            self.entries.pop(key, None)
            self.entries[key] = (version, at)
            while len(self.entries) > self.limit:
                self.entries.popitem(last=False)

    def get(self, object: str, id: str) -> tuple[str, float] | None:
        return self.entries.get((object, id))

    def drop(self, object: str, id: str) -> None:
        self.entries.pop((object, id), None)


@dataclass(frozen=True)
class Check:
    """How one request was checked. ``reread`` is true when it needs a read before the write."""

    reread: bool
    by: str  # before-image | re-read | none
    age: float | None = None
    conflict_with: str | None = None  # a version that differs from the expected one


def plan_check(seen: Seen, object: str, id: str, expected: str | None, now: float, recheck_after: float,
               *, need_existence: bool) -> Check:
    entry = seen.get(object, id)
    if need_existence:  # deletes: archive is irreversible and answers 204 for unknown ids
        return Check(True, "re-read")
    if expected is None:
        return Check(False, "none")
    if entry is not None and now - entry[1] < recheck_after:
        version, at = entry
        if expected is not None and version != expected:
            return Check(False, "before-image", now - at, conflict_with=version)
        return Check(False, "before-image", now - at)
    return Check(True, "re-read")


def _parse(value: Any) -> datetime | None:
    text = stamp(value)
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _entries(history: Any) -> Iterable[Mapping[str, Any]]:
    for item in history or []:
        if isinstance(item, Mapping):
            yield item
        else:
            yield {"value": getattr(item, "value", None), "timestamp": getattr(item, "timestamp", None),
                   "sourceType": getattr(item, "source_type", None), "sourceId": getattr(item, "source_id", None)}


def history_race(history: Mapping[str, Any], written: Mapping[str, str], version_prop: str,
                 checked: str | None, ours: str) -> dict[str, Any]:
    """What the property history says happened around our write.

    ``checked``: the version we compared before writing; ``ours``: the version our write produced.
    Returns ``{"race": [...]}`` for writes strictly between the two (another source wrote after our
    check and before our write: on a written property, its value was overwritten by ours), and
    ``{"after": [...]}`` for writes after ours. Empty when nothing else wrote.
    """
    low, high = _parse(checked), _parse(ours)
    if high is None:
        return {}
    race: list[dict[str, Any]] = []
    after: list[dict[str, Any]] = []
    for prop in [*written, version_prop]:
        for entry in _entries(history.get(prop)):
            when = _parse(entry.get("timestamp"))
            if when is None:
                continue
            if prop == version_prop:
                # the stamp's history lists every write's time as its value
                when = _parse(entry.get("value")) or when
            item = {"property": prop, "value": entry.get("value"), "timestamp": stamp(when),
                    "source": entry.get("sourceType")}
            if when > high:
                after.append(item)
            elif low is not None and low < when < high:
                item["overwritten"] = prop in written
                race.append(item)
            elif when == high and prop in written and entry.get("value") != written[prop]:
                item["overwritten"] = True  # same millisecond, another value: ambiguous, so flag it
                race.append(item)
    out: dict[str, Any] = {}
    if race:
        out["race"] = sorted(race, key=lambda r: (r["timestamp"], r["property"]))
    if after:
        out["after"] = sorted(after, key=lambda r: (r["timestamp"], r["property"]))
    return out
