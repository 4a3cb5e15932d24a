"""The final status of each change, folded from its entries: what the CSV export's ``status``
column shows (the entry's own step is in ``step``).

The exporter folds the entries it exports and the offline verifier folds the same entries from the
export file, so both derive the same column from hashed bodies alone. For an export that selects
changes (``--actor``, ``--use-case``, ``--object``, ``--record``) every entry of each change is
exported, so the fold sees its whole lifecycle and the status is final as of the export's head.

Statuses: ``applied``, ``queued``, ``rejected``, ``shadowed``, ``failed``, ``conflict``,
``unresolved`` (an intent without a result), ``approving``, ``stale``, ``requeued``,
``rolled_back`` (undone by a rollback that succeeded); a rollback's own change: ``reverted``,
``conflict``, ``failed`` or ``unresolved``. A status the fold does not know (a newer entry kind)
passes through as the entry wrote it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

_OF_WRITE = {"ok": "applied", "conflict": "conflict", "failed": "failed"}
_OF_ROLLBACK = {"ok": "reverted", "conflict": "conflict", "failed": "failed"}
_OF_APPROVAL = {"approval.approved": "approving", "approval.rejected": "rejected",
                "approval.stale": "stale", "approval.requeued": "requeued"}


class StatusFold:
    """Feed entry contents in seq order; ``status`` maps change id -> its latest status."""

    def __init__(self) -> None:
        self.status: dict[str, str] = {}

    def feed(self, content: Mapping[str, Any]) -> None:
        change, kind = content.get("change_id"), content.get("kind")
        data = content.get("data") if isinstance(content.get("data"), Mapping) else {}
        if not isinstance(change, str) or not isinstance(kind, str):
            return
        step = data.get("status")
        if kind == "proposal.decided":
            self.status[change] = "unresolved" if step == "applying" else str(step)
        elif kind in ("write.intent", "rollback.intent"):
            self.status[change] = "unresolved"
        elif kind == "write.result":
            self.status[change] = _OF_WRITE.get(step, str(step))
        elif kind == "rollback.result":
            self.status[change] = _OF_ROLLBACK.get(step, str(step))
            reverts = data.get("reverts")
            if step == "ok" and isinstance(reverts, str):
                self.status[reverts] = "rolled_back"
        elif kind in _OF_APPROVAL:
            self.status[change] = _OF_APPROVAL[kind]
        elif isinstance(step, str):
            self.status[change] = step

    def feed_all(self, contents: Iterable[Mapping[str, Any]]) -> StatusFold:
        for content in contents:
            self.feed(content)
        return self
