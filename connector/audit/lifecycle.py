"""A change's status: after one entry (:func:`entry_status`, the CSV export's ``status`` column
since CSV format 3), or final, folded from all its entries (:class:`StatusFold`, the ``status``
column of CSV format 2, which :mod:`crmgate.audit.legacy` still renders to verify those exports).

:func:`entry_status` reads the entry alone: ``proposal.decided`` gives the decision's status
(``unresolved`` when it was ``applying``), an intent ``unresolved``, ``write.result`` ``applied``,
``conflict``, ``failed`` or ``unknown``, ``rollback.result`` ``reverted``, ``conflict`` or
``failed``, the approvals ``approving``, ``rejected``, ``stale`` and ``requeued``; any other entry
its own ``data.status`` (empty when it has none). So a change's last row carries its status as of
the export, and a change that was rolled back is named in the ``data.reverts`` of the rollback's
entries.

For format 2, the exporter folded the entries it exported and the offline verifier folded the same
entries from the export's files, so both derived the same column from hashed bodies alone. For an export that selects
changes (``--actor``, ``--use-case``, ``--object``, ``--record``) every entry of each change is
exported, so the fold saw its whole lifecycle and the status was final as of the export's head
(but the fold kept one status per change for the whole run: memory grew with the trail).

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


_INTENTS = ("write.intent", "rollback.intent")
_OF_RESULT = {"write.result": _OF_WRITE, "rollback.result": _OF_ROLLBACK}


def entry_status(content: Mapping[str, Any]) -> Any:
    """The status of the entry's change after this entry, read from ``content`` alone (see above)."""
    kind = content.get("kind")
    if kind in _INTENTS:  # first: most entries are intents (a hot path)
        return "unresolved"
    data = content.get("data")
    step = data.get("status") if isinstance(data, Mapping) else None
    if type(kind) is not str:
        return step
    if kind == "proposal.decided":
        return "unresolved" if step == "applying" else step
    if kind in _OF_APPROVAL:
        return _OF_APPROVAL[kind]
    of = _OF_RESULT.get(kind)
    return of.get(step, step) if of is not None and type(step) is str else step


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
