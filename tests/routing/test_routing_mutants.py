"""Routing's schema limits and defaults, and its explanations (found by mutation testing)."""
from __future__ import annotations

import dataclasses

import pytest

from crmgate.rules.routing import Pool, PoolState, RoutingSection, has_room, pick_member, route, sequence


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
    s = section(rules=[{"id": "r", "when": {"Country": "DE"}, "assign": {"owner": "X"}}])
    [cand] = route("Lead", s, {"Country": "DE"}, None, {}).candidates
    with pytest.raises(dataclasses.FrozenInstanceError):
        cand.priority = 99  # type: ignore[misc]


def test_a_stranger_has_no_room_in_a_pool():
    """Someone who is not a member never has room, whatever the pool's state."""
    pool = Pool.model_validate({"members": [{"id": "A"}]})
    assert has_room(pool, PoolState(), "A") is True and has_room(pool, PoolState(), "nobody") is False
