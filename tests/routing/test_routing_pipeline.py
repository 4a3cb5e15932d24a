"""Routing through Gate.propose: the trace in outcome and trail, pools persisted atomically."""
from __future__ import annotations

import threading

import pytest

from crmgate.adapters.sandbox.adapter import SandboxAdapter
from crmgate.decide import pools
from crmgate.gate import Gate
from crmgate.rules.loader import parse_rulebook
from crmgate.rules.routing import PoolState
from crmgate.trail import TrailStore
from tests.routing.conftest import routing_text


def new_lead(company="Initech", country="US", employees=50, **extra):
    fields = {"LastName": "Ng", "Company": company, "Country": country, "NumberOfEmployees": employees}
    return {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1", "fields": {**fields, **extra}}


@pytest.fixture
def gate(make_gate, sandbox, routing_rulebook) -> Gate:
    return make_gate(sandbox, rules=routing_rulebook)


def test_routed_owner_is_written_with_trace_and_provenance(gate, sandbox):
    """A German lead is routed by rule emea: the owner is written, the outcome and the trail say
    which candidates matched, which step decided, and that OwnerId came from routing."""
    out = gate.propose(new_lead(country="DE", employees=20))[0]
    assert out.status == "applied"
    assert sandbox.get_many("Lead", [out.record_id])[out.record_id].fields["OwnerId"] == "005EMEA1"
    trace = out.to_dict()["routing"]
    assert (trace["winner"], trace["step"], trace["committed"]) == ("emea", "priority", True)
    assert [c["id"] for c in trace["candidates"]] == ["emea"]
    assert out.to_dict()["provenance"]["OwnerId"]["source"] == "routing"
    decided = gate.store.entries_for(proposal_id=out.proposal_id)[0]
    assert decided.data["routing"]["owner"] == "005EMEA1"
    assert decided.data["rulebook_version"] == gate.rulebook.version_hash


def test_pool_state_persists_across_gates(make_gate, sandbox, routing_rulebook):
    """The pool continues where it stopped after a restart (a new Gate on the same store)."""
    first = make_gate(sandbox, rules=routing_rulebook)
    a = first.propose(new_lead(country="US"))[0]
    second = make_gate(sandbox, rules=routing_rulebook)
    b, c = second.propose([new_lead(country="CA"), new_lead(country="US")])
    owners = [o.to_dict()["routing"]["owner"] for o in (a, b, c)]
    assert owners == ["005NA1", "005NA2", "005NA1"]
    assert pools.snapshot(second.store.engine)[("Lead", "north-america")] == PoolState(
        3, (("005NA1", 2), ("005NA2", 1)))


def test_rejected_proposal_does_not_use_a_slot(gate):
    """A proposal the rules reject is traced but its pool does not advance."""
    bad = gate.propose(new_lead(country="US", Email="not-an-email"))[0]
    assert bad.status == "rejected" and bad.to_dict()["routing"]["committed"] is False
    good = gate.propose(new_lead(country="US"))[0]
    assert good.to_dict()["routing"]["owner"] == "005NA1"


def test_full_pool_goes_to_default_and_says_why(gate):
    """Once every member is at capacity the record goes to the default owner, with the reason."""
    outs = gate.propose([new_lead(country="GB", employees=3000) for _ in range(5)])
    owners = [o.to_dict()["routing"]["owner"] for o in outs]
    assert owners == ["005EE1", "005EE2", "005EE1", "005EE2", "00GTRIAGE"]
    assert "full" in outs[-1].to_dict()["routing"]["reason"]


def test_ai_owner_is_tiered_by_risk(gate, sandbox):
    """An accepted AI suggestion is the AI's change: OwnerId is high risk, so it is queued."""
    out = gate.propose(new_lead(country="US", OwnerId="005NA2"))[0]
    assert out.status == "queued" and out.tier == "high"
    assert out.to_dict()["routing"]["step"] == "ai_suggestion"


def test_rule_owner_is_not_tiered_as_ai_change(gate):
    """An owner chosen by routing rules is a rule decision: the create still applies."""
    out = gate.propose(new_lead(country="US", OwnerId="005NOT-IN-POOL"))[0]
    assert out.status == "applied"
    assert out.to_dict()["routing"]["suggestion_status"] == "not_in_pool"
    assert {c.field: c.after for c in out.changes}["OwnerId"] == "005NA1"


def test_shadow_section_is_traced_and_never_writes(make_gate, sandbox):
    """A shadow routing section is evaluated beside the live one, recorded, and never advances."""
    text = routing_text(enrichment=False)
    shadow = text.split("routing:\n", 1)[1].split("enrichment:")[0].replace(
        "  Lead:\n", "  Lead-v2:\n    object: Lead\n    shadow: true\n", 1).replace(
        "assign: {owner: \"005EMEA1\"}", "assign: {owner: \"005EMEA2\"}")
    gate = make_gate(sandbox, rules=parse_rulebook(text + shadow))
    out = gate.propose(new_lead(country="FR"))[0]
    assert out.to_dict()["routing"]["owner"] == "005EMEA1"
    assert out.to_dict()["routing_shadow"][0]["owner"] == "005EMEA2"
    assert sandbox.get_many("Lead", [out.record_id])[out.record_id].fields["OwnerId"] == "005EMEA1"
    assert ("Lead-v2", "north-america") not in pools.snapshot(gate.store.engine)


def test_update_of_owned_record_keeps_owner(gate, sandbox):
    """Routing runs on updates too, and the keep-human-owner guardrail leaves the owner alone."""
    rid = gate.propose(new_lead(country="DE", employees=5))[0].record_id
    sandbox.edit("Lead", rid, {"OwnerId": "005HUMAN"})
    out = gate.propose({"object": "Lead", "op": "update", "record_id": rid, "actor": "ai:lead-intake-1",
                        "fields": {"Rating": "Warm"}})[0]
    assert out.status == "applied" and [c.field for c in out.changes] == ["Rating"]
    assert out.to_dict()["routing"]["winner"] == "keep-human-owner"


@pytest.mark.postgres
def test_two_workers_never_hand_out_one_slot_twice(pg_url, keypair, tmp_path, clock, routing_rulebook):
    """Two workers routing into one pool on one PostgreSQL store concurrently: every slot of the
    pool's sequence is handed out exactly once."""
    rb = parse_rulebook(routing_text(enrichment=False).replace(
        '{id: "005EE1", capacity: 2}, {id: "005EE2", capacity: 2}', '{id: "005EE1"}, {id: "005EE2"}'))
    crm_path = tmp_path / "shared-crm.db"
    SandboxAdapter(crm_path).close()
    per_worker, errors = 15, []

    def worker(n: int) -> None:
        try:
            store = TrailStore(pg_url, signer=keypair[0])
            gate = Gate(rulebook=rb, adapter=SandboxAdapter(crm_path), store=store)
            for i in range(per_worker):
                gate.propose(new_lead(company=f"W{n}-{i}", country="DE", employees=5000))
            gate.close()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    store = TrailStore(pg_url)
    cursors = [e.data["routing"]["pool_before"]["cursor"] for e in store.query(kinds=["proposal.decided"])]
    store.close()
    assert sorted(cursors) == list(range(2 * per_worker))


def test_suggestion_for_a_field_the_use_case_may_not_write(make_gate, sandbox):
    """If the use case may not set OwnerId, the AI's suggestion cannot win: routing decides and
    the proposal is not rejected for it."""
    text = routing_text(enrichment=False).replace(
        "fields: [LastName, Company, Email, Country, NumberOfEmployees, Rating, OwnerId]}",
        "fields: [LastName, Company, Email, Country, NumberOfEmployees, Rating]}")
    gate = make_gate(sandbox, rules=parse_rulebook(text))
    out = gate.propose(new_lead(country="US", OwnerId="005NA2"))[0]
    assert out.status == "applied"
    trace = out.to_dict()["routing"]
    assert (trace["suggestion_status"], trace["owner"], trace["step"]) == ("field_not_allowed", "005NA1", "pool")
