"""Routing resolution as a pure function: the documented total order, pools, AI suggestions."""
from __future__ import annotations

import pytest

from crmgate.rules.loader import RulebookError, parse_rulebook
from crmgate.rules.routing import Pool, PoolMember, PoolState, pick_member, route, sequence
from tests.routing.conftest import routing_text


def run(rb, record, suggestion=None, pools=None):
    return route("Lead", rb.routing["Lead"], record, suggestion, pools or {})


def test_guardrails_come_first_in_file_order(routing_rulebook):
    """A named account goes to the strategic owner even when it also has a human owner."""
    r = run(routing_rulebook, {"Company": "Acme Corp", "OwnerId": "005HUMAN", "Country": "DE"})
    assert (r.owner, r.step, r.winner) == ("005STRATEGIC", "guardrail", "named-accounts")


def test_keep_guardrail_keeps_the_current_owner(routing_rulebook):
    """An existing owner stays, and the AI's suggestion is overruled."""
    r = run(routing_rulebook, {"OwnerId": "005HUMAN", "Country": "US"}, suggestion="005NA1")
    assert (r.owner, r.step, r.suggestion_status) == ("005HUMAN", "guardrail", "overruled")
    assert not r.changes_owner


def test_specificity_breaks_a_priority_tie(routing_rulebook):
    """emea-enterprise and emea share priority 10; the more specific rule wins, by specificity."""
    r = run(routing_rulebook, {"Country": "DE", "NumberOfEmployees": 5000})
    assert (r.winner, r.step, r.owner, r.pool) == ("emea-enterprise", "pool", "005EE1", "emea-enterprise")
    assert [c.id for c in r.candidates] == ["emea-enterprise", "emea"]
    assert r.notes == ("rule decided by specificity",)


def test_sole_match_is_decided_by_priority(routing_rulebook):
    """A small German lead matches emea only: a fixed owner, decided at the priority step."""
    r = run(routing_rulebook, {"Country": "DE", "NumberOfEmployees": 20})
    assert (r.owner, r.step, r.winner) == ("005EMEA1", "priority", "emea")


def test_rule_id_breaks_a_full_tie():
    """Equal priority and specificity: the lower rule id wins, at the id step."""
    rb = parse_rulebook(routing_text(enrichment=False, extra="").replace(
        "      - id: emea\n        priority: 10", "      - id: aaa-emea\n        priority: 10").replace(
        "when: {Country: {in: [DE, FR, GB]}, NumberOfEmployees: {gte: 1000}}",
        "when: {Country: {in: [DE, FR, GB]}}"))
    r = run(rb, {"Country": "FR"})
    assert (r.winner, r.step) == ("aaa-emea", "id")


def test_round_robin_pool_skips_full_members_then_falls_to_default(routing_rulebook):
    """Capacity 2 each: EE1, EE2, EE1, EE2, then the pool is full and default decides, saying why."""
    state: dict = {}
    owners = []
    for _ in range(5):
        r = run(routing_rulebook, {"Country": "GB", "NumberOfEmployees": 2000}, pools=state)
        owners.append(r.owner)
        if r.pool_after is not None:
            state = {r.pool: r.pool_after}
    assert owners == ["005EE1", "005EE2", "005EE1", "005EE2", "00GTRIAGE"]
    assert r.step == "default" and "full" in r.reason


def test_weighted_pool_is_smooth():
    """Weights 2:1 interleave as A B A, not A A B."""
    pool = Pool(strategy="weighted", members=[PoolMember(id="A", weight=2), PoolMember(id="B", weight=1)])
    assert sequence(pool) == ("A", "B", "A")
    state, picks = PoolState(), []
    for _ in range(6):
        member, state = pick_member(pool, state)
        picks.append(member)
    assert picks == ["A", "B", "A", "A", "B", "A"]


def test_suggestion_within_pool_is_accepted_and_counted(routing_rulebook):
    """within_pool: a suggested member of the winning pool wins and uses a slot; the cursor stays."""
    r = run(routing_rulebook, {"Country": "US"}, suggestion="005NA2")
    assert (r.owner, r.step, r.suggestion_status) == ("005NA2", "ai_suggestion", "accepted")
    assert r.pool_after == PoolState(0, (("005NA2", 1),)) and r.by_ai


@pytest.mark.parametrize("record, suggestion, status, owner", [
    ({"Country": "US"}, "005ELSEWHERE", "not_in_pool", "005NA1"),
    ({"Country": "DE"}, "005EE1", "ignored", "005EMEA1"),
    ({"Country": "JP"}, "005NA1", "ignored", "00GTRIAGE"),
])
def test_suggestions_that_do_not_qualify(routing_rulebook, record, suggestion, status, owner):
    """Outside the winning pool, against a fixed owner, or with no rule, the suggestion loses."""
    r = run(routing_rulebook, record, suggestion=suggestion)
    assert (r.suggestion_status, r.owner) == (status, owner)


def test_full_member_suggestion_is_refused(routing_rulebook):
    """A suggested member at capacity is refused and the pool picks instead."""
    full = {"emea-enterprise": PoolState(0, (("005EE1", 2),))}
    r = run(routing_rulebook, {"Country": "DE", "NumberOfEmployees": 9000}, "005EE1", full)
    assert (r.suggestion_status, r.owner) == ("pool_member_full", "005EE2")


def test_advisory_suggestion_only_fills_the_gap():
    """advisory: the suggestion is taken only when nothing matched, before default."""
    rb = parse_rulebook(routing_text(enrichment=False).replace("ai_suggestions: within_pool",
                                                               "ai_suggestions: advisory"))
    assert run(rb, {"Country": "JP"}, "005X").owner == "005X"
    assert run(rb, {"Country": "DE"}, "005X").owner == "005EMEA1"


def test_no_match_goes_to_default(routing_rulebook):
    """Nothing matched: the default owner, at the default step."""
    r = run(routing_rulebook, {"Country": "JP"})
    assert (r.owner, r.step, r.winner) == ("00GTRIAGE", "default", "default")


@pytest.mark.parametrize("edit, path", [
    (("assign: {pool: north-america}", "assign: {pool: nowhere}"), "routing.Lead.rules[2].assign.pool"),
    (("- id: emea\n", "- id: emea-enterprise\n"), "routing.Lead.rules[1].id"),
    (("when: {Company: {in: [Acme Corp, Globex]}}", "when: {Compny: {in: [Acme]}}"),
     "routing.Lead.guardrails[0].when.Compny"),
    (("default: {owner: \"00GTRIAGE\"}", "default: {pool: north-america}"), "routing.Lead.default"),
    (("field: OwnerId", "field: LastName"), "routing.Lead.field"),
])
def test_bad_routing_sections_are_located(edit, path):
    """Unknown pools and fields, duplicate ids, a pool default or a required routed field are
    rulebook errors naming the exact path."""
    with pytest.raises(RulebookError) as exc:
        parse_rulebook(routing_text(enrichment=False).replace(*edit))
    assert path in [p.path for p in exc.value.problems]


def test_two_live_sections_for_one_object_are_refused():
    """Only one routing section per object may write; others must be shadow."""
    text = routing_text(enrichment=False)
    section = text.split("routing:\n", 1)[1]
    dup = text + section.replace("  Lead:\n", "  Lead-next:\n    object: Lead\n", 1)
    with pytest.raises(RulebookError) as exc:
        parse_rulebook(dup)
    assert "routing.Lead-next.shadow" in [p.path for p in exc.value.problems]
    parse_rulebook(dup.replace("    object: Lead\n", "    object: Lead\n    shadow: true\n", 1))
