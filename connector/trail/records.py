"""Immutable trail records: what callers append (:class:`NewEntry`) and what the trail holds.

An entry's *content* is every field except ``prev_hash`` and ``hash``; its *body* is the
canonical JSON of that content and is what ``hash = entry_hash(prev_hash, body)`` covers. Entry
``data`` holds plain JSON values (dicts, lists, str, int, float, bool, None) as parsed from the
stored body, so it compares equal to ordinary literals and serialises as is. An Entry read from
the store owns its copy; one returned by ``append`` shares it with the NewEntry when that was
already plain JSON. Treat it as read-only (an Entry whose data was mutated no longer verifies).
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crmgate.trail.canonical import canonical_json

#: Optional string fields shared by NewEntry and Entry; each is also a column of ``trail_entries``.
ID_FIELDS: tuple[str, ...] = (
    "proposal_id", "batch_id", "change_id", "actor", "use_case", "object", "record_id", "op",
)
#: Every field that goes into an entry's body, in a fixed order.
CONTENT_FIELDS: tuple[str, ...] = ("seq", "ts", "kind", *ID_FIELDS, "data")


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry to append. ``kind`` is required; ``data`` must be canonical-JSON serialisable."""

    kind: str
    proposal_id: str | None = None
    batch_id: str | None = None
    change_id: str | None = None
    actor: str | None = None
    use_case: str | None = None
    object: str | None = None
    record_id: str | None = None
    op: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise ValueError("NewEntry.kind must be a non-empty string")
        if self.data.__class__ is dict:  # the common case, without a getattr per field
            for value in (self.proposal_id, self.batch_id, self.change_id, self.actor, self.use_case,
                          self.object, self.record_id, self.op):
                if value is not None and value.__class__ is not str:
                    break
            else:
                return
        for name in ID_FIELDS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"NewEntry.{name} must be a string or None, got {type(value).__name__}")
        if not isinstance(self.data, Mapping):
            raise TypeError("NewEntry.data must be a mapping")


@dataclass(frozen=True, slots=True)
class Entry:
    """One committed trail entry (see the module docstring for body and hash)."""

    seq: int
    ts: str
    kind: str
    proposal_id: str | None
    batch_id: str | None
    change_id: str | None
    actor: str | None
    use_case: str | None
    object: str | None
    record_id: str | None
    op: str | None
    data: Mapping[str, Any]
    prev_hash: str
    hash: str

    def content(self) -> dict[str, Any]:
        """Return the hashed content: every field but ``prev_hash`` and ``hash`` (data deep-copied)."""
        out = {name: getattr(self, name) for name in CONTENT_FIELDS}
        out["data"] = copy.deepcopy(self.data)
        return out

    def body(self) -> str:
        """Return the canonical JSON of :meth:`content`, the text ``hash`` chains over."""
        return canonical_json({name: getattr(self, name) for name in CONTENT_FIELDS})

    def to_dict(self) -> dict[str, Any]:
        """Return content plus ``prev_hash`` and ``hash`` as a plain dict (the export form)."""
        return self.content() | {"prev_hash": self.prev_hash, "hash": self.hash}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Entry:
        """Build an Entry from :meth:`to_dict` output; missing id fields become None, data {}."""
        values = {name: d.get(name) for name in ID_FIELDS}
        return cls(
            seq=int(d["seq"]), ts=str(d["ts"]), kind=str(d["kind"]), **values,
            data=copy.deepcopy(dict(d.get("data") or {})), prev_hash=str(d["prev_hash"]), hash=str(d["hash"]),
        )


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement: "the chain's hash at ``seq`` was ``head_hash``" by key ``key_id``."""

    seq: int
    head_hash: str
    ts: str
    key_id: str
    signature: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "head_hash": self.head_hash, "ts": self.ts,
                "key_id": self.key_id, "signature": self.signature}
