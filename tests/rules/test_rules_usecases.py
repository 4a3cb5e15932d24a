"""Use-case resolution: actor globs, named use cases and the candidate order."""
from __future__ import annotations

from rules_helpers import proposal

from crmgate.rules.loader import parse_rulebook
from crmgate.rules.schema import Rulebook
from crmgate.rules.usecases import resolve_use_case


def test_glob_actor_resolves(rulebook: Rulebook) -> None:
    """ai:lead-intake-1 matches the ai:lead-intake* glob."""
    assert resolve_use_case(proposal("Lead", "create", "ai:lead-intake-1"), rulebook) == ("lead_intake", None)


def test_exact_actor_pattern_does_not_match_suffix(rulebook: Rulebook) -> None:
    """A glob without * matches only the exact actor, and matching is case-sensitive."""
    for actor in ("ai:deal-hygiene-2", "AI:deal-hygiene"):
        name, violation = resolve_use_case(proposal("Opportunity", "update", actor), rulebook)
        assert name is None and violation.code == "actor_not_allowed"


def test_unknown_actor(rulebook: Rulebook) -> None:
    """An actor matching no use case is actor_not_allowed, naming the actor."""
    name, violation = resolve_use_case(proposal("Lead", "create", "ai:rogue"), rulebook)
    assert name is None
    assert (violation.code, violation.object, violation.field) == ("actor_not_allowed", "Lead", None)
    assert "'ai:rogue'" in violation.message


def test_named_use_case_matches(rulebook: Rulebook) -> None:
    """A named use case whose actors include the actor is used as is."""
    p = proposal("Lead", "update", "ai:lead-scorer-2", use_case="lead_scoring")
    assert resolve_use_case(p, rulebook) == ("lead_scoring", None)


def test_named_use_case_actor_mismatch(rulebook: Rulebook) -> None:
    """Naming a use case the actor does not belong to is actor_not_allowed for that use case."""
    p = proposal("Lead", "update", "ai:lead-scorer-2", use_case="lead_intake")
    name, violation = resolve_use_case(p, rulebook)
    assert name is None and violation.code == "actor_not_allowed"
    assert violation.message == "actor 'ai:lead-scorer-2' is not allowed for use case 'lead_intake'"


def test_named_unknown_use_case(rulebook: Rulebook) -> None:
    """Naming a use case that does not exist is unknown_use_case."""
    p = proposal("Lead", "update", "ai:lead-scorer-2", use_case="lead_scorin")
    name, violation = resolve_use_case(p, rulebook)
    assert name is None and violation.code == "unknown_use_case" and "'lead_scorin'" in violation.message


SHARED = """
version: 1
objects:
  Lead: {fields: {LastName: {type: string}, Rating: {type: picklist, values: [Hot, Cold]}}}
  Task: {fields: {Subject: {type: string}}}
risk: {tiers: {low: apply, medium: apply, high: approve, critical: block}}
use_cases:
  first:  {actors: ["ai:*"], allow: {Task: {ops: [create], fields: [Subject]}}}
  second: {actors: ["ai:bot"], allow: {Lead: {ops: [update], fields: [Rating]}}}
  third:  {actors: ["ai:bot"], allow: {Lead: {ops: [update, create], fields: [Rating]}}}
"""


def test_first_candidate_that_allows_object_and_op_wins() -> None:
    """Among matching use cases, the first (file order) allowing the object and op is chosen."""
    rb = parse_rulebook(SHARED)
    assert resolve_use_case(proposal("Task", "create", "ai:bot"), rb)[0] == "first"
    assert resolve_use_case(proposal("Lead", "update", "ai:bot"), rb)[0] == "second"
    assert resolve_use_case(proposal("Lead", "create", "ai:bot"), rb)[0] == "third"


def test_falls_back_to_first_candidate() -> None:
    """If no candidate allows the object and op, the first candidate is returned (to be rejected later)."""
    rb = parse_rulebook(SHARED)
    assert resolve_use_case(proposal("Lead", "delete", "ai:bot"), rb) == ("first", None)
