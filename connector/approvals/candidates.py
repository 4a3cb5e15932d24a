"""The duplicate candidates beside a queued change: read from its ``proposal.decided`` trail entry,
where the duplicate guard recorded the rule, the candidate records and their scores."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from crmgate.approvals.queue import QueuedChange
from crmgate.trail import Entry, TrailStore


def duplicates_in(entries: Iterable[Entry]) -> dict[str, Any] | None:
    """The ``duplicates`` block of the first decision among ``entries`` (None when there is none)."""
    for e in entries:
        if e.kind == "proposal.decided" and isinstance(e.data.get("duplicates"), dict):
            return dict(e.data["duplicates"])
    return None


def with_duplicates(store: TrailStore, items: Sequence[QueuedChange]) -> list[QueuedChange]:
    """``items`` with their candidates attached (one trail look-up per queued create or merge)."""
    out = []
    for q in items:
        found = duplicates_in(store.entries_for(change_id=q.change_id)) if q.op in ("create", "update") else None
        out.append(replace(q, duplicates=found) if found else q)
    return out
