"""The re-check an approval runs before writing: is the queued change still the change a person is
approving, on the record as it is now?

Three checks, in order; the first that fails makes the change ``stale`` and names itself:

1. ``record``: an update or delete needs the record to exist still.
2. ``fields``: every field the change writes must still hold the value it had at queueing (the
   queued before-value). Other fields may have moved: on a busy record (an Opportunity touched by
   many systems every hour) a change queued against the whole version would almost never survive.
   A delete writes every field, so any field change makes it stale.
3. ``rules``: the rulebook, run again on the record now (:func:`crmgate.rules.decision.decide`),
   must not reject the change (a required field now blank, a risk tier now blocked...).

A change that passes is written against the record's current version, still conditionally, so an
edit between this read and the write is a ``conflict``. Every field the change writes is reported
with three values: ``queued`` (at queueing), ``now`` and ``proposed``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crmgate.adapters.base import Record
from crmgate.approvals.queue import QueuedChange
from crmgate.rules.conditions import values_equal
from crmgate.rules.decision import decide
from crmgate.rules.proposal import Proposal

CHECKS: tuple[str, ...] = ("record", "fields", "rules")


@dataclass(frozen=True, slots=True)
class Recheck:
    """The re-check's verdict. ``check`` names the check that made the change stale (None when it
    passed); ``fields`` lists ``{field, queued, now, proposed, changed}`` for every field written."""

    stale: bool
    check: str | None
    reason: str
    queued_version: str | None
    version: str | None
    fields: tuple[dict[str, Any], ...] = ()
    violations: tuple[dict[str, Any], ...] = ()
    passed: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"result": "stale" if self.stale else "current", "check": self.check,
                               "passed": list(self.passed), "reason": self.reason,
                               "queued_version": self.queued_version, "version": self.version,
                               "fields": [dict(f) for f in self.fields]}
        if self.violations:
            out["violations"] = [dict(v) for v in self.violations]
        return out


def three_values(q: QueuedChange, now: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """``{field, queued, now, proposed, changed}`` for each field the queued change writes."""
    current = now or {}
    out = []
    for c in q.changes:
        name = c["field"]
        value = current.get(name)
        out.append({"field": name, "queued": c.get("before"), "now": value, "proposed": c.get("after"),
                    "changed": now is not None and not values_equal(value, c.get("before"))})
    if q.op == "delete" and now is not None:  # fields filled in since queueing are changes too
        known = {c["field"] for c in q.changes}
        out += [{"field": k, "queued": None, "now": v, "proposed": None, "changed": True}
                for k, v in sorted(now.items()) if k not in known and v not in (None, "")]
    return out


def recheck(q: QueuedChange, proposal: Proposal, current: Record | None, rulebook: Any) -> Recheck:
    """Run the three checks (module docstring) on ``current``, the record read just now."""
    version = current.version if current is not None else None
    now = dict(current.fields) if current is not None else None
    values = tuple(three_values(q, now))
    base = {"queued_version": q.base_version, "version": version, "fields": values}
    passed: list[str] = []
    if q.op != "create":
        if current is None:
            return Recheck(True, "record", f"{q.object} {q.record_id} no longer exists", **base)
        passed.append("record")
        moved = [v for v in values if v["changed"]]
        if moved:
            what = "; ".join(f"{v['field']} was {describe(v['queued'])} at queueing, is {describe(v['now'])} "
                             f"now (proposed: {describe(v['proposed'])})" for v in moved)
            return Recheck(True, "fields", f"a field this change writes changed since it was queued: {what}",
                           **base, passed=tuple(passed))
        passed.append("fields")
    d = decide(proposal, now, rulebook)
    if d.action == "reject" or d.would == "reject":
        return Recheck(True, "rules", f"the rules no longer allow this change on the record as it is "
                                      f"now ({d.rule}: {d.reason})",
                       **base, violations=tuple(v.to_dict() for v in d.violations), passed=tuple(passed))
    passed.append("rules")
    return Recheck(False, None, "the fields it writes are unchanged and the rules still allow it",
                   **base, passed=tuple(passed))


def describe(value: Any) -> str:
    """A value as a person reads it in a message: ``empty`` for None or blank, else the value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return "empty"
    return repr(value) if isinstance(value, str) else str(value)
