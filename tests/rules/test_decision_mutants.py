"""Every decision path's reason, word for word (found by mutation testing).

The reason is what an admin reads in the approval queue and what the trail keeps to explain a
decision; a wrong count, a dropped '(and more)' or the wrong tier in it misleads a person.
"""
from __future__ import annotations

import dataclasses

import pytest
from rules_helpers import lead, opp, proposal

from crmgate.rules.decision import decide
from crmgate.rules.schema import Rulebook

H = "ai:deal-hygiene"

CASES = {
    "one violation": (
        proposal("Lead", "update", "ai:lead-intake-1", {"Company": " "}), lead(),
        ("reject", "validation", None, "1 rule violation: Lead.Company is required")),
    "two violations": (
        proposal("Opportunity", "update", H, {"StageName": "Negotiation"}, confidence=0.9),
        opp(Amount=None, NextStep=None),
        ("reject", "validation", None, "2 rule violations: Amount is required when StageName is Negotiation (and more)")),
    "blocked tier": (
        proposal("Opportunity", "delete", H, confidence=1.0), opp(),
        ("reject", "risk.rules[3]", "critical",
         "tier critical is blocked (risk.rules[3]: delete of Opportunity is tier critical)")),
    "approval tier": (
        proposal("Opportunity", "update", H, {"ForecastCategoryName": "Commit"}, confidence=0.9), opp(),
        ("queue", "risk.rules[0]", "high", "tier high needs approval (ForecastCategoryName changed)")),
    "applies": (
        proposal("Opportunity", "update", H, {"NextStep": "Call CFO"}, confidence=0.9), opp(),
        ("apply", "risk.default", "low", "tier low applies automatically (no risk rule matched)")),
    "low confidence": (
        proposal("Opportunity", "update", H, {"NextStep": "Call CFO"}, confidence=0.5), opp(),
        ("queue", "use_cases.deal_hygiene.min_confidence", "low", "confidence 0.5 is below the use case minimum 0.7")),
    "no confidence": (
        proposal("Opportunity", "update", H, {"NextStep": "Call CFO"}), opp(),
        ("queue", "use_cases.deal_hygiene.min_confidence", "low", "no confidence is below the use case minimum 0.7")),
    "shadow": (
        proposal("Lead", "update", "ai:lead-scorer-2", {"Rating": "Hot"}), lead(),
        ("shadow", "use_cases.lead_scoring.mode", "low",
         "use case lead_scoring is in shadow mode; enforced, it would have been applied "
         "(risk.default: tier low applies automatically (no risk rule matched))")),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_path_gives_its_exact_reason(rulebook: Rulebook, name: str) -> None:
    """Action, rule, tier and the full reason text of each decision path."""
    p, current, expected = CASES[name]
    d = decide(p, current, rulebook)
    assert (d.action, d.rule, d.tier, d.reason) == expected


def test_field_changes_are_frozen(rulebook: Rulebook) -> None:
    """A decision's field changes (what the approver sees) cannot be altered afterwards."""
    p, current, _ = CASES["applies"]
    [change] = decide(p, current, rulebook).changes
    with pytest.raises(dataclasses.FrozenInstanceError):
        change.after = "other"  # type: ignore[misc]
