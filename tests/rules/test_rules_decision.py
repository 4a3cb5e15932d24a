"""decide(): the acceptance behaviours of the template rulebook plus every decision path."""
from __future__ import annotations

import json

import pytest
from rules_helpers import lead, opp, proposal

from crmgate.rules.decision import Decision, FieldChange, compute_changes, decide
from crmgate.rules.loader import parse_rulebook
from crmgate.rules.schema import Rulebook

H = "ai:deal-hygiene"


# --- acceptance behaviours (spec section 6) -------------------------------------------------

def test_lead_create_applies(rulebook: Rulebook) -> None:
    """A valid Lead create by ai:lead-intake-1 is applied at the default tier."""
    p = proposal("Lead", "create", "ai:lead-intake-1", {"LastName": "Kim", "Company": "Acme", "Rating": "Hot"})
    d = decide(p, None, rulebook)
    assert (d.action, d.use_case, d.mode, d.tier, d.rule) == ("apply", "lead_intake", "enforce", "low", "risk.default")
    assert d.violations == () and d.would is None
    assert d.changes == (FieldChange("Company", None, "Acme"), FieldChange("LastName", None, "Kim"),
                         FieldChange("Rating", None, "Hot"))


def test_update_blanking_company_rejects(rulebook: Rulebook) -> None:
    """Blanking a required field is rejected by validation."""
    d = decide(proposal("Lead", "update", "ai:lead-intake-1", {"Company": " "}), lead(), rulebook)
    assert (d.action, d.rule, d.tier) == ("reject", "validation", None)
    assert [(v.code, v.field) for v in d.violations] == [("required_field_missing", "Company")]
    assert "Company" in d.reason


def test_negotiation_without_amount_and_next_step_rejects(rulebook: Rulebook) -> None:
    """Moving to Negotiation while Amount/NextStep are empty is rejected with both fields named."""
    p = proposal("Opportunity", "update", H, {"StageName": "Negotiation"}, confidence=0.9)
    d = decide(p, opp(Amount=None, NextStep=None), rulebook)
    assert (d.action, d.rule) == ("reject", "validation")
    assert [(v.code, v.field) for v in d.violations] == [("required_field_missing", "Amount"),
                                                         ("required_field_missing", "NextStep")]


def test_forecast_change_queues_as_high(rulebook: Rulebook) -> None:
    """A ForecastCategoryName change is high risk and queued even at confidence 0.9."""
    p = proposal("Opportunity", "update", H, {"ForecastCategoryName": "Commit"}, confidence=0.9)
    d = decide(p, opp(), rulebook)
    assert (d.action, d.tier, d.rule, d.use_case) == ("queue", "high", "risk.rules[0]", "deal_hygiene")
    assert d.risk_matches[0].field == "ForecastCategoryName"
    assert d.changes == (FieldChange("ForecastCategoryName", "Pipeline", "Commit"),)


def test_low_confidence_queues(rulebook: Rulebook) -> None:
    """An allowed low-risk change below min_confidence is queued by the use case's floor."""
    p = proposal("Opportunity", "update", H, {"NextStep": "Call CFO"}, confidence=0.5)
    d = decide(p, opp(), rulebook)
    assert (d.action, d.tier, d.rule) == ("queue", "low", "use_cases.deal_hygiene.min_confidence")
    assert "0.5" in d.reason and "0.7" in d.reason


@pytest.mark.parametrize(("confidence", "action"), [(None, "queue"), (0.69, "queue"), (0.7, "apply"), (1.0, "apply")])
def test_min_confidence_boundary(rulebook: Rulebook, confidence, action: str) -> None:
    """Exactly min_confidence passes; below it or missing queues."""
    p = proposal("Opportunity", "update", H, {"NextStep": "Call CFO"}, confidence=confidence)
    assert decide(p, opp(), rulebook).action == action


def test_lead_scorer_is_shadowed(rulebook: Rulebook) -> None:
    """ai:lead-scorer-2 setting Rating is shadowed, with would=apply."""
    d = decide(proposal("Lead", "update", "ai:lead-scorer-2", {"Rating": "Hot"}), lead(), rulebook)
    assert (d.action, d.would, d.mode, d.rule, d.tier) == ("shadow", "apply", "shadow",
                                                           "use_cases.lead_scoring.mode", "low")
    assert d.changes == (FieldChange("Rating", "Warm", "Hot"),)


def test_delete_is_blocked(rulebook: Rulebook) -> None:
    """A delete by ai:deal-hygiene is critical, so it is rejected with blocked_by_risk_tier."""
    d = decide(proposal("Opportunity", "delete", H, confidence=1.0), opp(), rulebook)
    assert (d.action, d.tier, d.rule) == ("reject", "critical", "risk.rules[3]")
    [v] = d.violations
    assert (v.code, v.object, v.field) == ("blocked_by_risk_tier", "Opportunity", None)
    assert "critical" in v.message and "risk.rules[3]" in v.message
    assert all(c.after is None for c in d.changes) and {c.field for c in d.changes} == set(opp())


@pytest.mark.parametrize(("old", "new", "action", "tier"), [
    (100, 130, "queue", "high"), (100, 110, "apply", "low"), (None, 50, "queue", "high"),
])
def test_amount_changes(rulebook: Rulebook, old, new, action: str, tier: str) -> None:
    """Amount 100->130 and None->50 are high (queued), 100->110 is low (applied)."""
    p = proposal("Opportunity", "update", H, {"Amount": new}, confidence=0.9)
    d = decide(p, opp(Amount=old), rulebook)
    assert (d.action, d.tier) == (action, tier)


def test_closed_won_is_high(rulebook: Rulebook) -> None:
    """Moving StageName to Closed Won is high risk and queued."""
    p = proposal("Opportunity", "update", H, {"StageName": "Closed Won", "NextStep": "Handover"}, confidence=0.9)
    d = decide(p, opp(), rulebook)
    assert (d.action, d.tier, d.rule) == ("queue", "high", "risk.rules[2]")


def test_unknown_actor_rejects(rulebook: Rulebook) -> None:
    """An actor outside every use case is rejected at use-case resolution."""
    d = decide(proposal("Lead", "create", "ai:rogue", {"LastName": "K", "Company": "C"}), None, rulebook)
    assert (d.action, d.rule, d.use_case, d.mode, d.tier) == ("reject", "use_cases", None, None, None)
    assert [v.code for v in d.violations] == ["actor_not_allowed"]


def test_named_use_case_mismatch_rejects_even_for_shadow_actor(rulebook: Rulebook) -> None:
    """A shadow-mode actor naming another use case gets a plain reject, not a shadow."""
    p = proposal("Lead", "update", "ai:lead-scorer-2", {"Rating": "Hot"}, use_case="lead_intake")
    d = decide(p, lead(), rulebook)
    assert (d.action, d.would, d.rule) == ("reject", None, "use_cases")
    assert [v.code for v in d.violations] == ["actor_not_allowed"]
    assert "lead_intake" in d.reason


# --- remaining paths ------------------------------------------------------------------------

def test_shadow_with_violations(rulebook: Rulebook) -> None:
    """A shadow use case with violations stays 'shadow' with would=reject and the violations listed."""
    d = decide(proposal("Lead", "update", "ai:lead-scorer-2", {"Rating": "Tepid", "Company": "X"}), lead(), rulebook)
    assert (d.action, d.would, d.tier) == ("shadow", "reject", None)
    assert [(v.code, v.field) for v in d.violations] == [("field_not_allowed", "Company"),
                                                         ("invalid_picklist_value", "Rating")]


def test_not_allowed_op_rejects(rulebook: Rulebook) -> None:
    """deal_intake may only create; its update is rejected with operation_not_allowed."""
    d = decide(proposal("Opportunity", "update", "ai:deal-intake", {"NextStep": "x"}), opp(), rulebook)
    assert (d.action, d.rule, d.use_case) == ("reject", "validation", "deal_intake")
    assert [v.code for v in d.violations] == ["operation_not_allowed"]


def test_record_not_found_rejects(rulebook: Rulebook) -> None:
    """An update of a record that does not exist is rejected."""
    d = decide(proposal("Opportunity", "update", H, {"NextStep": "x"}, confidence=1), None, rulebook)
    assert (d.action, d.rule) == ("reject", "validation")
    assert [v.code for v in d.violations] == ["record_not_found"]


def test_no_change_applies(rulebook: Rulebook) -> None:
    """An update that changes nothing is applied as a no-op, even without confidence."""
    d = decide(proposal("Opportunity", "update", H, {"Amount": 100.0, "NextStep": None}), opp(), rulebook)
    assert (d.action, d.rule, d.reason, d.tier, d.changes) == ("apply", "no_change", "no field would change", None, ())


def test_no_change_with_violations_rejects(rulebook: Rulebook) -> None:
    """A no-op update on a record violating required_when is still rejected."""
    current = opp(StageName="Negotiation", Amount=None)
    d = decide(proposal("Opportunity", "update", H, {"StageName": "Negotiation"}, confidence=1), current, rulebook)
    assert (d.action, d.rule) == ("reject", "validation")


SUGGEST = """
version: 1
objects:
  Lead: {fields: {A: {type: string}, Owner: {type: reference}}}
risk:
  tiers: {low: apply, medium: approve, high: approve, critical: block}
  rules:
    - {id: owner, field: Owner, tier: medium}
    - {id: no-delete, op: delete, tier: critical}
use_cases:
  coach: {actors: ["ai:coach"], mode: suggest, allow: {Lead: {ops: [update, delete], fields: [A, Owner]}}}
  shade: {actors: ["ai:shade"], mode: shadow, min_confidence: 0.8,
          allow: {Lead: {ops: [update, delete], fields: [A, Owner]}}}
"""


def test_suggest_mode_queues_applies_but_keeps_rejects() -> None:
    """In suggest mode an apply becomes a queue; a queue stays a queue; a block still rejects."""
    rb = parse_rulebook(SUGGEST)
    d = decide(proposal("Lead", "update", "ai:coach", {"A": "x"}), {"A": "y"}, rb)
    assert (d.action, d.rule, d.mode, d.tier) == ("queue", "use_cases.coach.mode", "suggest", "low")
    d = decide(proposal("Lead", "update", "ai:coach", {"Owner": "005"}), {}, rb)
    assert (d.action, d.rule, d.tier) == ("queue", "owner", "medium")
    d = decide(proposal("Lead", "delete", "ai:coach"), {"A": "y"}, rb)
    assert (d.action, d.rule) == ("reject", "no-delete")


def test_shadow_reports_what_enforce_would_do() -> None:
    """Shadow mode never acts but records queue (tier, confidence) and reject (block) outcomes."""
    rb = parse_rulebook(SUGGEST)
    d = decide(proposal("Lead", "update", "ai:shade", {"A": "x"}, confidence=0.5), {"A": "y"}, rb)
    assert (d.action, d.would) == ("shadow", "queue") and "min_confidence" in d.reason
    d = decide(proposal("Lead", "update", "ai:shade", {"Owner": "005"}, confidence=0.9), {}, rb)
    assert (d.action, d.would, d.tier) == ("shadow", "queue", "medium")
    d = decide(proposal("Lead", "delete", "ai:shade", confidence=0.9), {"A": "y"}, rb)
    assert (d.action, d.would, d.tier) == ("shadow", "reject", "critical")
    assert [v.code for v in d.violations] == ["blocked_by_risk_tier"]


def test_blocked_violation_names_field() -> None:
    """When a field rule blocks, the blocked_by_risk_tier violation names that field."""
    rb = parse_rulebook(SUGGEST.replace("{id: owner, field: Owner, tier: medium}",
                                        "{id: owner, field: Owner, tier: critical}"))
    d = decide(proposal("Lead", "update", "ai:coach", {"Owner": "005"}), {}, rb)
    assert [(v.code, v.field) for v in d.violations] == [("blocked_by_risk_tier", "Owner")]
    assert d.rule == "owner"


def test_compute_changes() -> None:
    """create lists all fields, update only differing ones (None for absent), delete every current field."""
    p = proposal("Lead", "update", "ai:x", {"B": 2, "A": 1, "C": None, "D": 1.0})
    assert compute_changes(p, {"A": 1, "C": "old", "D": 1}) == (FieldChange("B", None, 2), FieldChange("C", "old", None))
    assert compute_changes(proposal("Lead", "create", "ai:x", {"B": None}), None) == (FieldChange("B", None, None),)
    assert compute_changes(proposal("Lead", "delete", "ai:x"), {"Z": 1, "A": 2}) == (
        FieldChange("A", 2, None), FieldChange("Z", 1, None))


def test_to_dict_is_json_ready(rulebook: Rulebook) -> None:
    """Decision.to_dict round-trips through JSON with every key present."""
    p = proposal("Opportunity", "update", H, {"Amount": 130}, confidence=0.9)
    d = decide(p, opp(), rulebook)
    data = json.loads(json.dumps(d.to_dict()))
    assert set(data) == {"action", "use_case", "mode", "tier", "rule", "reason", "violations", "changes",
                         "would", "risk_matches"}
    assert data["changes"] == [{"field": "Amount", "before": 100, "after": 130}]
    assert data["risk_matches"][0]["rule"] == "risk.rules[1]"
    blocked = decide(proposal("Opportunity", "delete", H), opp(), rulebook).to_dict()
    assert blocked["violations"][0]["code"] == "blocked_by_risk_tier"


def test_decision_is_frozen(rulebook: Rulebook) -> None:
    """Decisions are immutable values."""
    d = decide(proposal("Lead", "update", "ai:lead-scorer-2", {"Rating": "Hot"}), lead(), rulebook)
    assert isinstance(d, Decision)
    with pytest.raises(AttributeError):
        d.action = "apply"  # type: ignore[misc]
