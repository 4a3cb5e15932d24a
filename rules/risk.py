"""Tier a proposal by risk, from the rulebook's ordered risk rules.

What counts as a change: for a create every proposed field; for an update only fields whose new
value differs from the current one (``1 == 1.0``, ``True != 1``); for a delete no field at all --
only ``object`` and ``op`` criteria can match a delete.

A rule's criteria combine with AND: ``object`` and ``op`` must equal the proposal's; with
``field``/``fields``, some changed field must be listed and, for that same field, the new value
must be in ``to`` (if given) and the change must exceed ``change_over_pct`` (if given):
``|new - old| / |old| * 100 > P``, where a missing/None/zero old value or a non-numeric value
counts as over (an unmeasurable change is treated as a big one).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from crmgate.rules.conditions import is_number, values_equal
from crmgate.rules.proposal import OP_TEXT, Op, Proposal
from crmgate.rules.schema import TIER_RANK, RiskRule, Rulebook

DEFAULT_RULE = "risk.default"
_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RiskMatch:
    """One risk rule that matched: its id, tier, the field that triggered it and why."""

    rule: str
    tier: str
    field: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        # what asdict gave (every field is a str or None), without its recursive copy
        return {"rule": self.rule, "tier": self.tier, "field": self.field, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    """The winning tier, every match in file order, and the id of the winning rule."""

    tier: str
    matches: tuple[RiskMatch, ...]
    rule: str


#: the assessment when no rule matched, per default tier: immutable, so one object serves every proposal
_NOTHING = {tier: RiskAssessment(tier, (), DEFAULT_RULE) for tier in TIER_RANK}


def rule_id(rule: RiskRule, index: int) -> str:
    """The rule's ``id`` if given, else its position ``risk.rules[<index>]``."""
    return rule.id or f"risk.rules[{index}]"


def changed_fields(proposal: Proposal, current: Mapping[str, Any] | None) -> dict[str, Any]:
    """Fields the proposal really changes, name -> new value (see module docstring)."""
    if proposal.op is Op.DELETE:
        return {}
    if proposal.op is Op.CREATE:
        return dict(proposal.fields)
    before = current or {}
    return {k: v for k, v in proposal.fields.items() if not values_equal(v, before.get(k))}


def assess_risk(proposal: Proposal, current: Mapping[str, Any] | None, rulebook: Rulebook) -> RiskAssessment:
    """Tier ``proposal``: the highest tier among matching rules, else ``risk.default``.

    ``rule`` is the first matching rule (file order) with the winning tier, or ``"risk.default"``
    when nothing matched. Pure.
    """
    op = proposal.op
    # read only below, so a create's fields and the current record are used without a copy
    changed = proposal.fields if op is Op.CREATE else changed_fields(proposal, current)
    before = _EMPTY if op is Op.CREATE else (current or _EMPTY)
    found: list[RiskMatch] = []
    obj, op_name = proposal.object, OP_TEXT[op]
    for rid, rule, names in rulebook.risk.compiled:
        # the object and op criteria first, inline: most rules name another object or op
        if (rule.object is not None and rule.object != obj) or (rule.op is not None and rule.op != op_name):
            continue
        if names and changed.keys().isdisjoint(names):
            continue
        match = _match(rule, rid, proposal, changed, before)
        if match is not None:
            found.append(match)
    if not found:
        return _NOTHING[rulebook.risk.default]
    best = max(TIER_RANK[m.tier] for m in found)
    winner = next(m for m in found if TIER_RANK[m.tier] == best)  # first in file order
    return RiskAssessment(winner.tier, tuple(found), winner.rule)


def _match(rule: RiskRule, rid: str, proposal: Proposal, changed: Mapping[str, Any],
           before: Mapping[str, Any]) -> RiskMatch | None:
    if rule.object is not None and rule.object != proposal.object:
        return None
    if rule.op is not None and rule.op != OP_TEXT[proposal.op]:
        return None
    if not rule.field_list:
        what = f"{proposal.op.value} of {proposal.object}"
        return RiskMatch(rid, rule.tier, None, f"{what} is tier {rule.tier}")
    for name in rule.field_list:  # rule order, so the reported field is stable
        if name not in changed:
            continue
        new, old = changed[name], before.get(name)
        if rule.to is not None and not any(values_equal(new, t) for t in rule.to):
            continue
        if rule.change_over_pct is not None:
            pct = _change_pct(old, new)
            if pct is not None and pct <= Decimal(str(rule.change_over_pct)):
                continue
            size = "unmeasurable" if pct is None else f"{pct:.4g}%"
            reason = f"{name} changed from {_said(old)} to {_said(new)} ({size}, over {rule.change_over_pct:g}%)"
        elif rule.to is not None:
            reason = f"{name} set to {_said(new)}"
        else:
            reason = f"{name} changed"
        return RiskMatch(rid, rule.tier, name, reason)
    return None


def _said(value: Any) -> str:
    """A value in a reason a person reads: ``empty``, never ``None``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return "empty"
    return repr(value)


def _change_pct(old: Any, new: Any) -> Decimal | None:
    """Relative change in percent, exact in decimal; None when it cannot be measured."""
    if not (is_number(old) and is_number(new)) or old == 0:
        return None
    # Decimal(str(x)) avoids binary float noise: 100 -> 120 is exactly 20%, not 20.000000000000004.
    o, n = Decimal(str(old)), Decimal(str(new))
    return abs(n - o) / abs(o) * 100
