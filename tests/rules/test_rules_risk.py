"""Risk tiering: changed-field detection, rule criteria, tier precedence and rule ids."""
from __future__ import annotations

import pytest
from rules_helpers import lead, opp, proposal

from crmgate.rules.loader import parse_rulebook
from crmgate.rules.risk import RiskMatch, assess_risk
from crmgate.rules.schema import Rulebook

H = "ai:deal-hygiene"


def _opp_update(rulebook: Rulebook, current: dict, **fields):
    return assess_risk(proposal("Opportunity", "update", H, fields), current, rulebook)


@pytest.mark.parametrize(("old", "new", "tier"), [
    (100, 130, "high"), (100, 110, "low"), (100, 120, "low"), (100, 120.01, "high"), (100, 79, "high"),
    (100, 80, "low"), (None, 50, "high"), (0, 1, "high"), (100, None, "high"), (0.1, 0.12, "low"),
])
def test_amount_change_over_pct(rulebook: Rulebook, old, new, tier: str) -> None:
    """Amount changes over 20% (or from nothing/zero, or to nothing) are high; smaller ones default."""
    got = _opp_update(rulebook, opp(Amount=old), Amount=new)
    assert got.tier == tier
    assert got.rule == ("risk.rules[1]" if tier == "high" else "risk.default")


def test_amount_match_details(rulebook: Rulebook) -> None:
    """A match carries the rule id, tier, field and a reason with the percentage."""
    got = _opp_update(rulebook, opp(Amount=100), Amount=130)
    [m] = got.matches
    assert (m.rule, m.tier, m.field) == ("risk.rules[1]", "high", "Amount")
    assert "30" in m.reason and "20%" in m.reason


def test_unchanged_value_does_not_count(rulebook: Rulebook) -> None:
    """Re-sending the current value (even as 1000.0 for 1000) is not a change."""
    got = _opp_update(rulebook, opp(Amount=1000, OwnerId="005A"), Amount=1000.0, OwnerId="005A")
    assert (got.tier, got.matches, got.rule) == ("low", (), "risk.default")


@pytest.mark.parametrize(("stage", "tier"), [("Closed Won", "high"), ("Closed Lost", "high"), ("Negotiation", "low")])
def test_stage_to(rulebook: Rulebook, stage: str, tier: str) -> None:
    """Only moves into the listed stages match the `to` rule."""
    got = _opp_update(rulebook, opp(Amount=5, NextStep="x"), StageName=stage)
    assert got.tier == tier
    if tier == "high":
        assert got.rule == "risk.rules[2]" and got.matches[0].field == "StageName"


def test_stage_to_requires_a_change(rulebook: Rulebook) -> None:
    """Re-sending Closed Won for a record already Closed Won does not trigger the rule."""
    assert _opp_update(rulebook, opp(StageName="Closed Won"), StageName="Closed Won").tier == "low"


def test_fields_rule_without_object_applies_to_every_object(rulebook: Rulebook) -> None:
    """The ForecastCategoryName/OwnerId rule has no object, so a Lead owner change matches it too."""
    got = assess_risk(proposal("Lead", "update", "ai:x", {"OwnerId": "005B"}), lead(OwnerId="005A"), rulebook)
    assert (got.tier, got.rule, got.matches[0].field) == ("high", "risk.rules[0]", "OwnerId")


def test_create_counts_every_field(rulebook: Rulebook) -> None:
    """On create, every proposed field is a change, so an Amount is 'over' (no old value)."""
    fields = {"Name": "n", "StageName": "Prospecting", "CloseDate": "2026-01-01", "Amount": 1}
    got = assess_risk(proposal("Opportunity", "create", "ai:x", fields), None, rulebook)
    assert (got.tier, got.rule) == ("high", "risk.rules[1]")


def test_delete_matches_op_rule_only(rulebook: Rulebook) -> None:
    """A delete matches the op rule and no field rule."""
    got = assess_risk(proposal("Opportunity", "delete", H), opp(), rulebook)
    assert got.tier == "critical" and got.rule == "risk.rules[3]"
    assert got.matches == (RiskMatch("risk.rules[3]", "critical", None, "delete of Opportunity is tier critical"),)


def test_highest_tier_wins_and_all_matches_kept(rulebook: Rulebook) -> None:
    """Several matching rules: all are listed in file order, the first highest one decides."""
    got = _opp_update(rulebook, opp(Amount=100), Amount=500, ForecastCategoryName="Commit", StageName="Closed Won",
                      NextStep="go")
    assert [m.rule for m in got.matches] == ["risk.rules[0]", "risk.rules[1]", "risk.rules[2]"]
    assert (got.tier, got.rule) == ("high", "risk.rules[0]")


RB = """
version: 1
objects:
  Lead: {fields: {A: {type: string}, B: {type: string}, N: {type: integer}}}
risk:
  default: medium
  tiers: {low: apply, medium: apply, high: approve, critical: block}
  rules:
    - {id: a-low, field: A, tier: low}
    - {object: Lead, op: update, fields: [B, A], tier: high}
    - {id: b-critical, fields: [B], to: [x], tier: critical}
    - {op: delete, tier: medium}
"""


def test_default_tier_and_custom_ids() -> None:
    """Unmatched proposals get risk.default; rules with an id are named by it."""
    rb = parse_rulebook(RB)
    none = assess_risk(proposal("Lead", "update", "ai:x", {"N": 2}), {"N": 1}, rb)
    assert (none.tier, none.rule, none.matches) == ("medium", "risk.default", ())
    deleted = assess_risk(proposal("Lead", "delete", "ai:x"), {"A": "old"}, rb)
    assert (deleted.tier, deleted.rule) == ("medium", "risk.rules[3]")


def test_lower_matching_rule_overrides_default() -> None:
    """A match replaces the default even when its tier is lower (the default is only for 'no match')."""
    rb = parse_rulebook(RB)
    got = assess_risk(proposal("Lead", "create", "ai:x", {"A": "1"}), None, rb)
    assert (got.tier, got.rule) == ("low", "a-low")
    got = assess_risk(proposal("Lead", "update", "ai:x", {"A": "new"}), {"A": "old"}, rb)
    assert (got.tier, got.rule) == ("high", "risk.rules[1]")  # object+op+field rule beats a-low


def test_field_reported_in_rule_order_and_to_checked_per_field() -> None:
    """The reported field follows the rule's list order; `to` is judged on the changed field's value."""
    rb = parse_rulebook(RB)
    got = assess_risk(proposal("Lead", "update", "ai:x", {"A": "1", "B": "x"}), {}, rb)
    assert got.rule == "b-critical" and got.tier == "critical"
    assert [(m.rule, m.field) for m in got.matches] == [("a-low", "A"), ("risk.rules[1]", "B"), ("b-critical", "B")]
    got = assess_risk(proposal("Lead", "update", "ai:x", {"B": "y"}), {}, rb)
    assert got.rule == "risk.rules[1]"


def test_bool_to_number_is_a_change() -> None:
    """True replacing 1 counts as a change (and is unmeasurable, hence over any percentage)."""
    rb = parse_rulebook("""
version: 1
objects: {Lead: {fields: {N: {type: number}}}}
risk:
  tiers: {low: apply, medium: apply, high: approve, critical: block}
  rules: [{field: N, change_over_pct: 50, tier: high}]
""")
    assert assess_risk(proposal("Lead", "update", "ai:x", {"N": True}), {"N": 1}, rb).tier == "high"
    assert assess_risk(proposal("Lead", "update", "ai:x", {"N": 1.0}), {"N": 1}, rb).tier == "low"
