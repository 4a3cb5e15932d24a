"""Outcome feedback: a person records whether a change later proved right.

:func:`record_feedback` appends one ``feedback.recorded`` entry with the change's ``change_id``,
``proposal_id``, use case, object and record; ``actor`` is the person giving feedback and ``data`` is
``{"correct": bool, "by": str, "note": str | None}``. Rules:

* the change must be a proposed change in the trail (a ``proposal.decided`` entry carries its
  change id), else :class:`FeedbackError` ``unknown_change``;
* an ``ai:`` actor may not give feedback (``feedback_refused``): feedback measures whether the AI
  was right, and an AI grading changes would inflate its own accuracy;
* feedback may be given more than once; the governance report counts the latest per change.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crmgate.actors import is_ai
from crmgate.errors import CrmgateError
from crmgate.trail import Entry, NewEntry, TrailStore

KIND = "feedback.recorded"


class FeedbackError(CrmgateError):
    code = "feedback_refused"


@dataclass(frozen=True, slots=True)
class Feedback:
    """The recorded feedback and the trail entry holding it."""

    change_id: str
    correct: bool
    by: str
    note: str | None
    seq: int

    def to_dict(self) -> dict[str, Any]:
        return {"change_id": self.change_id, "correct": self.correct, "by": self.by, "note": self.note,
                "seq": self.seq}


def record_feedback(store: TrailStore, change_id: str, *, correct: bool, by: str,
                    note: str | None = None) -> Feedback:
    """Append a ``feedback.recorded`` entry for ``change_id`` (see the module docstring)."""
    by = (by or "").strip()
    if not by:
        raise FeedbackError("feedback needs a person's name (--by)", code="feedback_refused")
    if is_ai(by):
        raise FeedbackError(f"{by} is an AI actor: only people record outcome feedback",
                            details={"by": by})
    entries = store.entries_for(change_id=change_id)
    decided = _decided(entries)
    if decided is None:
        raise FeedbackError(f"no proposed change {change_id} in the trail", code="unknown_change",
                            details={"change_id": change_id})
    record_id = next((e.record_id for e in reversed(entries) if e.record_id), None)  # creates get theirs late
    [entry] = store.append([NewEntry(
        kind=KIND, proposal_id=decided.proposal_id, change_id=change_id, actor=by,
        use_case=decided.use_case, object=decided.object, record_id=record_id, op=decided.op,
        data={"correct": bool(correct), "by": by, "note": note})])
    return Feedback(change_id, bool(correct), by, note, entry.seq)


def _decided(entries: list[Entry]) -> Entry | None:
    return next((e for e in entries if e.kind == "proposal.decided"), None)
