"""Routing's schema limits and defaults, and its explanations (found by mutation testing): the
routed object, what each candidate assigns, sections on one operation."""
from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from crmgate.rules.routing import Pool, PoolState, RoutingSection, applies, has_room, pick_member, route, sequence


def section(**extra) -> RoutingSection:
    return RoutingSection.model_validate({"default": {"owner": "D"}, **extra})


def test_one_character_ids_are_valid():
    """Ids need one character, not two: guardrails, rules and pool members named 'g', 'r', 'A'."""
    s = section(guardrails=[{"id": "g", "when": {"Country": "XX"}, "assign": "keep"}],
                rules=[{"id": "r", "when": {"Country": "DE"}, "assign": {"pool": "p"}}],
                pools={"p": {"members": [{"id": "A"}]}})
    assert [g.id for g in s.guardrails] == ["g"] and s.pools["p"].members[0].id == "A"


def test_an_unweighted_weighted_pool_takes_each_member_once():
    """Weights default to 1: a 'weighted' pool without weights is plain A, B."""
    pool = Pool.model_validate({"strategy": "weighted", "members": [{"id": "A"}, {"id": "B"}]})
    assert sequence(pool) == ("A", "B")


def test_routing_results_and_pool_states_are_frozen():
    """What routing decided, and the pool state it hands back, cannot be altered afterwards."""
    s = section(rules=[{"id": "r", "when": {"Country": "DE"}, "assign": {"pool": "p"}}],
                pools={"p": {"members": [{"id": "A"}]}})
    result = route("Lead", s, {"Country": "DE"}, None, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.owner = "X"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.pool_after.cursor = 0  # type: ignore[misc,union-attr]
    assert pick_member(s.pools["p"], PoolState())[0] == "A"


def test_a_member_with_capacity_zero_is_valid_and_skipped():
    """Capacity 0 (a member on leave) is allowed, and the pool passes over that member."""
    pool = Pool.model_validate({"members": [{"id": "A", "capacity": 0}, {"id": "B"}]})
    member, after = pick_member(pool, PoolState())
    assert (member, after.cursor, after.counts) == ("B", 2, (("B", 1),))


def test_candidates_are_frozen():
    """The candidates an explanation lists cannot be altered afterwards."""
    s = section(rules=[{"id": "r", "when": {"Country": "DE"}, "assign": {"owner": "X"}}])
    [cand] = route("Lead", s, {"Country": "DE"}, None, {}).candidates
    with pytest.raises(dataclasses.FrozenInstanceError):
        cand.priority = 99  # type: ignore[misc]


def test_a_stranger_has_no_room_in_a_pool():
    """Someone who is not a member never has room, whatever the pool's state."""
    pool = Pool.model_validate({"members": [{"id": "A"}]})
    assert has_room(pool, PoolState(), "A") is True and has_room(pool, PoolState(), "nobody") is False


def test_guardrail_reasons_say_keep_or_assign():
    """A keep guardrail keeps the current owner and says so; an assigning one names the owner."""
    s = section(guardrails=[{"id": "mine", "when": {"Country": "US"}, "assign": "keep"},
                            {"id": "vip", "when": {"Country": "DE"}, "assign": {"owner": "V"}}])
    kept = route("Lead", s, {"Country": "US", "OwnerId": "H"}, None, {})
    vip = route("Lead", s, {"Country": "DE", "OwnerId": "H"}, None, {})
    assert (kept.owner, kept.reason) == ("H", "guardrail mine matched and keeps the current owner")
    assert (vip.owner, vip.reason) == ("V", "guardrail vip matched and assigns V")


def test_a_rule_without_priority_ranks_below_priority_one():
    """Priority defaults to 0: a rule with priority 1 beats it at the priority step, whatever the ids."""
    s = section(rules=[{"id": "a", "when": {"Country": "DE"}, "assign": {"owner": "A"}},
                       {"id": "b", "priority": 1, "when": {"Country": "DE"}, "assign": {"owner": "B"}}])
    r = route("Lead", s, {"Country": "DE"}, None, {})
    assert (r.owner, r.winner, r.step) == ("B", "b", "priority")


def test_a_fresh_member_has_room_for_its_first_record():
    """No assignments yet counts as zero: a member of capacity 1 takes one record, then is full."""
    pool = Pool.model_validate({"members": [{"id": "A", "capacity": 1}]})
    assert PoolState().count("A") == 0 and has_room(pool, PoolState(), "A")
    assert not has_room(pool, PoolState().assigned("A"), "A")


def test_weights_two_to_one_interleave():
    """Smooth weighted round robin: weights 2:1 give A B A, not A A B."""
    pool = Pool.model_validate({"strategy": "weighted", "members": [{"id": "A", "weight": 2}, {"id": "B"}]})
    assert sequence(pool) == ("A", "B", "A")


@pytest.mark.parametrize("assign", [{"owner": "A", "pool": "p"}, {}], ids=["both", "neither"])
def test_an_assignment_names_exactly_one_of_owner_or_pool(assign):
    """A default that names both an owner and a pool, or neither, is refused when the rulebook loads."""
    with pytest.raises(ValidationError, match="exactly one of owner or pool"):
        RoutingSection.model_validate({"default": assign})


def test_a_stored_pool_state_without_cursor_starts_at_zero():
    """A stored pool state without a cursor starts at position 0 and keeps its counts."""
    assert PoolState.from_dict({"counts": {"A": 2}}) == PoolState(0, (("A", 2),))


def test_weights_three_to_one_follow_the_smooth_order():
    """Weights 3:1 give A A B A (each step adds every weight before picking the largest)."""
    pool = Pool.model_validate({"strategy": "weighted", "members": [{"id": "A", "weight": 3}, {"id": "B"}]})
    assert sequence(pool) == ("A", "A", "B", "A")


def test_the_result_names_the_routed_object_not_the_section():
    """A section named apart from its object routes that object; without ``object`` the name is the object."""
    named = section(object="Lead")
    assert route("Lead-next", named, {}, None, {}).object == "Lead"
    assert route("Lead", section(), {}, None, {}).object == "Lead"


def test_candidates_show_what_each_match_assigns():
    """The explanation's candidates say what each assigns: an owner, a pool, or 'keep' for a guardrail."""
    s = section(rules=[{"id": "fixed", "priority": 1, "when": {"Country": "DE"}, "assign": {"owner": "X"}},
                       {"id": "pooled", "when": {"Country": "DE"}, "assign": {"pool": "p"}}],
                pools={"p": {"members": [{"id": "A"}]}})
    r = route("Lead", s, {"Country": "DE"}, None, {})
    assert [c.assign for c in r.candidates] == [{"owner": "X"}, {"pool": "p"}]
    assert r.to_dict()["candidates"][1] == {"kind": "rule", "id": "pooled", "priority": 0, "specificity": 1,
                                            "assign": {"pool": "p"}}
    kept = section(guardrails=[{"id": "g", "when": {"Country": "US"}, "assign": "keep"}])
    assert [c.assign for c in route("Lead", kept, {"Country": "US"}, None, {}).candidates] == ["keep"]


def test_a_section_may_route_on_one_operation_only():
    """``on: [update]`` is a valid section (one operation is enough); it routes updates, not creates."""
    s = section(on=["update"])
    assert applies(s, "update") and not applies(s, "create")


def test_governed_keeps_each_argument_and_fresh_defaults() -> None:
    """Governed's hand-written constructor puts each argument in its own field and gives each
    instance its own empty provenance and pool changes."""
    from crmgate.decide.governance import Governed

    names = [f.name for f in dataclasses.fields(Governed)]
    g = Governed(*names)
    assert [getattr(g, n) for n in names] == names
    a, b = Governed("d"), Governed("d")
    assert (a.routing, a.routing_input, a.shadows, a.enrichment, a.duplicate) == (None, None, (), None, None)
    assert a.provenance == {} == a.pool_changes and a.provenance is not b.provenance
    assert a.pool_changes is not b.pool_changes
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.decision = "other"  # type: ignore[misc]
