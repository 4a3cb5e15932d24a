"""The duplicate guard's part of a decision: screen a create against candidates, fold the match in.

Pure given its inputs (the candidates are fetched by :mod:`crmgate.writes.duplicates`).

* :func:`screen` runs the object's matching rules (:mod:`crmgate.rules.matching`). When the first
  matching rule says ``update_existing`` and its best candidate is a CRM record, the create becomes
  an update of that record carrying only the fields it lacks (all of them with ``overwrite``); the
  rules then validate and tier that update like any other.
* :func:`fold` turns the match into the decision: ``block`` rejects with a ``duplicate`` violation,
  ``queue`` holds the change for a person who sees the candidates, a merge keeps the update's own
  decision. A proposal already rejected stays rejected; shadow mode records what would happen.
  A match with an earlier create of the same batch cannot be merged (that record does not exist
  yet), so ``update_existing`` blocks it instead.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from crmgate.rules.decision import Decision
from crmgate.rules.matching import Candidate, CandidatePool, MatchResult, RuleMatch, find_matches, merge_fields
from crmgate.rules.proposal import Op, Proposal
from crmgate.rules.schema import Rulebook
from crmgate.rules.violations import Code, Violation

EFFECTS = ("blocked", "queued", "merged")


@dataclass(frozen=True, slots=True)
class DuplicateCheck:
    """What the guard found for one create; ``merged_into`` is the record it became an update of."""

    result: MatchResult
    merged_into: str | None = None
    #: the create's own fields, kept for the trail when it became an update carrying fewer
    proposed: dict[str, Any] | None = None

    @property
    def match(self) -> RuleMatch:
        return self.result.decisive  # type: ignore[return-value]  # a check exists only for a match

    def rule_name(self) -> str:
        return f"matching.{self.result.object}.{self.match.rule}"

    def describe(self) -> str:
        best = self.match.best
        where = "an earlier create in this batch" if best.in_batch else f"{best.object} {best.id}"
        more = len(self.match.candidates) - 1
        return (f"looks like a duplicate of {where} (score {best.score:g}, rule {self.rule_name()})"
                + (f" and {more} more" if more > 0 else ""))


def screen(proposal: Proposal, rulebook: Rulebook,
           candidates: Sequence[Candidate] | CandidatePool) -> tuple[DuplicateCheck | None, Proposal]:
    """The match for a create (None when nothing matches), and the proposal to decide on."""
    section = rulebook.matching.get(proposal.object)
    if proposal.op is not Op.CREATE or section is None:
        return None, proposal
    pool = candidates if isinstance(candidates, CandidatePool) else CandidatePool(candidates)
    result = find_matches(proposal.object, proposal.fields, section, pool)
    m = result.decisive
    if m is None:
        return None, proposal
    if m.action != "update_existing" or m.best.in_batch:
        return DuplicateCheck(result), proposal
    existing = next(c for c in pool.items if c.id == m.best.id and c.object == m.best.object)
    fields = merge_fields(proposal.fields, existing.fields, overwrite=m.overwrite)
    update = proposal.model_copy(update={"op": Op.UPDATE, "record_id": existing.id, "fields": fields})
    return DuplicateCheck(result, merged_into=existing.id, proposed=dict(proposal.fields)), update


def fold(d: Decision, check: DuplicateCheck | None) -> Decision:
    """The decision with the duplicate match folded in (see the module docstring)."""
    if check is None:
        return d
    m = check.match
    if check.merged_into is not None:
        if d.action in ("apply", "queue"):
            return replace(d, reason=f"merged into existing {check.result.object} {check.merged_into} "
                                     f"(rule {check.rule_name()}): {d.reason}")
        return d
    if m.action == "queue" and d.action != "reject":
        if d.action == "shadow":
            return replace(d, would="queue") if d.would == "apply" else d
        return replace(d, action="queue", rule=check.rule_name(), reason=f"held for a person: {check.describe()}") \
            if d.action == "apply" else replace(d, reason=f"{d.reason}; {check.describe()}")
    if m.action == "queue":
        return d
    why = check.describe() + (" (not yet written, so it cannot be merged; send this one again "
                               "once that one is written)" if m.action == "update_existing" else "")
    v = Violation(Code.DUPLICATE.value, check.result.object, None, f"{check.result.object} {why}")
    if d.action == "shadow":
        return replace(d, would="reject", violations=d.violations + (v,))
    if d.action == "reject":
        return replace(d, violations=d.violations + (v,))
    return replace(d, action="reject", rule=check.rule_name(), reason=v.message, violations=(v,))


def trace(check: DuplicateCheck | None, d: Decision) -> dict[str, Any]:
    """What the outcome and the trail carry: the rule, candidates with scores, and the effect."""
    if check is None:
        return {}
    m = check.match
    effect = None
    if d.action != "shadow":
        if check.merged_into is not None:
            effect = "merged" if d.action in ("apply", "queue") else None
        elif m.action == "queue":
            effect = "queued" if d.action == "queue" else None
        else:
            effect = "blocked"
    out: dict[str, Any] = {"rule": check.rule_name(), "action": m.action, "effect": effect,
                           "candidates": [c.to_dict() for c in m.candidates],
                           "matches": [x.to_dict() for x in check.result.matches]}
    if check.merged_into is not None:
        out["merged_into"] = check.merged_into
        out["proposed_fields"] = check.proposed
    return {"duplicates": out}
