"""Decide what happens to a proposal: apply, queue for a human, reject, or shadow.

Algorithm (first step that decides wins):

1. Resolve the use case; a failure is a plain ``reject`` (rule ``use_cases``), even for actors
   that would otherwise be in shadow mode -- we cannot know the mode without a use case.
2. Validate; violations -> ``reject`` (rule ``validation``).
3. An update that changes nothing -> ``apply`` (rule ``no_change``), not risk-assessed (tier
   None): there is nothing to approve or block.
4. Assess risk; the tier's action: ``block`` -> ``reject`` with ``blocked_by_risk_tier``,
   ``approve`` -> ``queue``, ``apply`` -> ``apply`` (rule = the winning risk rule).
5. ``apply`` with a use-case ``min_confidence`` and a confidence that is missing or below it
   -> ``queue`` (rule ``use_cases.<uc>.min_confidence``). Missing counts as below: a workflow
   that does not say how sure it is must not skip review.
6. Mode ``suggest``: ``apply`` -> ``queue`` (rule ``use_cases.<uc>.mode``); rejects stay.
   Mode ``shadow``: action ``shadow``, ``would`` = steps 2-5's action, rule
   ``use_cases.<uc>.mode``; violations and risk matches are still reported.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from crmgate.rules.conditions import values_equal
from crmgate.rules.proposal import Op, Proposal
from crmgate.rules.risk import RiskMatch, assess_risk
from crmgate.rules.schema import Rulebook
from crmgate.rules.usecases import resolve_use_case
from crmgate.rules.validation import validate
from crmgate.rules.violations import Code, Violation

Action = Literal["apply", "queue", "reject", "shadow"]
_TIER_TO_ACTION = {"apply": "apply", "approve": "queue", "block": "reject"}


@dataclass(frozen=True, slots=True, init=False)
class FieldChange:
    """One field's value before and after the proposed change (None = empty / not present)."""

    field: str
    before: Any
    after: Any

    def __init__(self, field: str, before: Any, after: Any) -> None:
        # the slots set directly: a frozen dataclass's own __init__ goes through object.__setattr__
        # once per field, a third of a decision's cost for a create of six fields
        _SET_FIELD(self, field)
        _SET_BEFORE(self, before)
        _SET_AFTER(self, after)

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "before": self.before, "after": self.after}


@dataclass(frozen=True, slots=True, init=False)
class Decision:
    """The outcome for one proposal, with everything needed to explain it."""

    action: Action
    use_case: str | None
    mode: str | None
    tier: str | None
    rule: str
    reason: str
    violations: tuple[Violation, ...]
    changes: tuple[FieldChange, ...]
    would: Literal["apply", "queue", "reject"] | None = None
    risk_matches: tuple[RiskMatch, ...] = ()

    def __init__(self, action: Action, use_case: str | None, mode: str | None, tier: str | None, rule: str,
                 reason: str, violations: tuple[Violation, ...], changes: tuple[FieldChange, ...],
                 would: Literal["apply", "queue", "reject"] | None = None,
                 risk_matches: tuple[RiskMatch, ...] = ()) -> None:
        # slots set directly, as in FieldChange (one decision per proposal): 40% fewer instructions
        _D_ACTION(self, action)
        _D_USE_CASE(self, use_case)
        _D_MODE(self, mode)
        _D_TIER(self, tier)
        _D_RULE(self, rule)
        _D_REASON(self, reason)
        _D_VIOLATIONS(self, violations)
        _D_CHANGES(self, changes)
        _D_WOULD(self, would)
        _D_RISK_MATCHES(self, risk_matches)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (values in ``changes`` are passed through as given)."""
        return {
            "action": self.action, "use_case": self.use_case, "mode": self.mode, "tier": self.tier,
            "rule": self.rule, "reason": self.reason,
            "violations": [v.to_dict() for v in self.violations],
            # FieldChange.to_dict inlined: a decision carries one per field, and this runs per proposal
            "changes": [{"field": c.field, "before": c.before, "after": c.after} for c in self.changes],
            "would": self.would,
            "risk_matches": [m.to_dict() for m in self.risk_matches],
        }


_SET_FIELD, _SET_BEFORE, _SET_AFTER = (FieldChange.field.__set__, FieldChange.before.__set__,  # type: ignore[attr-defined]
                                       FieldChange.after.__set__)  # type: ignore[attr-defined]
(_D_ACTION, _D_USE_CASE, _D_MODE, _D_TIER, _D_RULE, _D_REASON, _D_VIOLATIONS, _D_CHANGES, _D_WOULD,
 _D_RISK_MATCHES) = (getattr(Decision, name).__set__ for name in Decision.__slots__)  # (in field order)


def compute_changes(proposal: Proposal, current: Mapping[str, Any] | None) -> tuple[FieldChange, ...]:
    """Field changes sorted by field name.

    create: every proposed field (before None); update: fields whose value differs from
    ``current`` (before = current value or None); delete: every current field, after None.
    """
    fields = proposal.fields  # (lists into tuple(): a generator costs a frame switch per field)
    if proposal.op is Op.CREATE:
        return tuple([FieldChange(k, None, fields[k]) for k in sorted(fields)])
    before = current or {}
    if proposal.op is Op.DELETE:
        return tuple([FieldChange(k, before[k], None) for k in sorted(before)])
    return tuple([FieldChange(k, before.get(k), fields[k]) for k in sorted(fields)
                  if not values_equal(fields[k], before.get(k))])


def decide(proposal: Proposal, current: Mapping[str, Any] | None, rulebook: Rulebook) -> Decision:
    """Decide ``proposal`` given the ``current`` record (None if it does not exist). Pure.

    See the module docstring for the algorithm and the ``rule`` naming each step.
    """
    changes = compute_changes(proposal, current)
    uc_name, violation = resolve_use_case(proposal, rulebook)
    if violation is not None:
        return Decision("reject", None, None, None, "use_cases", violation.message,
                        (violation,), changes)
    assert uc_name is not None  # resolve_use_case returns a name or a violation
    uc = rulebook.use_cases[uc_name]
    enforced = _enforce(proposal, current, rulebook, uc_name, changes)
    if uc.mode == "shadow":
        verb = {"apply": "applied", "queue": "queued", "reject": "rejected"}[enforced.action]
        return Decision("shadow", uc_name, uc.mode, enforced.tier, f"use_cases.{uc_name}.mode",
                        f"use case {uc_name} is in shadow mode; enforced, it would have been {verb} "
                        f"({enforced.rule}: {enforced.reason})",
                        enforced.violations, changes, enforced.action, enforced.risk_matches)
    if uc.mode == "suggest" and enforced.action == "apply" and enforced.rule != "no_change":
        return Decision("queue", uc_name, uc.mode, enforced.tier, f"use_cases.{uc_name}.mode",
                        f"use case {uc_name} is in suggest mode, so every change needs approval",
                        (), changes, None, enforced.risk_matches)
    return Decision(enforced.action, uc_name, uc.mode, enforced.tier, enforced.rule, enforced.reason,
                    enforced.violations, changes, None, enforced.risk_matches)


class _Enforced(NamedTuple):  # (private, built once per decision: a tuple is cheaper than a frozen dataclass)
    action: Literal["apply", "queue", "reject"]
    tier: str | None
    rule: str
    reason: str
    violations: tuple[Violation, ...] = ()
    risk_matches: tuple[RiskMatch, ...] = ()


def _enforce(proposal: Proposal, current: Mapping[str, Any] | None, rulebook: Rulebook,
             uc_name: str, changes: tuple[FieldChange, ...]) -> _Enforced:
    """Steps 2-5: what enforce mode decides."""
    violations = tuple(validate(proposal, current, rulebook, uc_name))
    if violations:
        n = len(violations)
        return _Enforced("reject", None, "validation",
                         f"{n} rule violation{'s' if n != 1 else ''}: {violations[0].message}"
                         + (" (and more)" if n > 1 else ""), violations)
    if proposal.op is Op.UPDATE and not changes:
        return _Enforced("apply", None, "no_change", "no field would change")
    risk = assess_risk(proposal, current, rulebook)
    action = _TIER_TO_ACTION[getattr(rulebook.risk.tiers, risk.tier)]
    winner = next((m for m in risk.matches if m.rule == risk.rule), None) if risk.matches else None
    why = winner.reason if winner is not None else "no risk rule matched"
    if action == "reject":
        message = f"tier {risk.tier} is blocked ({risk.rule}: {why})"
        blocked = Violation(Code.BLOCKED_BY_RISK_TIER.value, proposal.object,
                            winner.field if winner else None, message)
        return _Enforced("reject", risk.tier, risk.rule, message, (blocked,), risk.matches)
    if action == "queue":
        return _Enforced("queue", risk.tier, risk.rule, f"tier {risk.tier} needs approval ({why})",
                         (), risk.matches)
    floor = rulebook.use_cases[uc_name].min_confidence
    if floor is not None and (proposal.confidence is None or proposal.confidence < floor):
        got = "no confidence" if proposal.confidence is None else f"confidence {proposal.confidence:g}"
        return _Enforced("queue", risk.tier, f"use_cases.{uc_name}.min_confidence",
                         f"{got} is below the use case minimum {floor:g}", (), risk.matches)
    return _Enforced("apply", risk.tier, risk.rule, f"tier {risk.tier} applies automatically ({why})",
                     (), risk.matches)
