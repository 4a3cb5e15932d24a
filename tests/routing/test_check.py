"""Gate.check: the same decision as propose, with routing pools read but never advanced."""
from __future__ import annotations

import pytest

from crmgate.decide import pools
from crmgate.gate import Gate
from tests.routing.test_routing_pipeline import new_lead


@pytest.fixture
def gate(make_gate, sandbox, routing_rulebook) -> Gate:
    return make_gate(sandbox, rules=routing_rulebook)


def test_check_predicts_routing_without_advancing_the_pool(gate, sandbox):
    """Two US leads: the check hands out 005NA1 then 005NA2 (in memory), writes and stores nothing,
    and proposing them then routes exactly so."""
    leads = [new_lead(company="A Co"), new_lead(company="B Co")]
    checks = gate.check(leads)
    owners = [dict((c.field, c.after) for c in ch.changes)["OwnerId"] for ch in checks]
    assert owners == ["005NA1", "005NA2"]  # weights 2:1, smooth round robin: A then B
    assert gate.store.count() == 0 and pools.snapshot(gate.store.engine) == {}
    outcomes = gate.propose(leads)
    assert [dict((c.field, c.after) for c in o.changes)["OwnerId"] for o in outcomes] == owners
    assert [ch.to_dict()["routing"]["winner"] for ch in checks] == [o.to_dict()["routing"]["winner"] for o in outcomes]


def test_check_of_an_update_reads_the_before_image(gate, sandbox):
    """An update is judged against the record as it is now: a value that already holds is no_change."""
    [created] = gate.propose(new_lead(country="DE"))
    head = gate.store.head()
    [same] = gate.check({"object": "Lead", "op": "update", "record_id": created.record_id,
                         "actor": "ai:lead-intake-1", "fields": {"Country": "DE"}})
    assert (same.status, same.rule, same.changes) == ("applied", "no_change", ())
    [gone] = gate.check({"object": "Lead", "op": "update", "record_id": "00Q000000000777AAA",
                         "actor": "ai:lead-intake-1", "fields": {"Country": "DE"}})
    assert gone.status == "rejected" and gone.violations[0].code == "record_not_found"
    assert gate.store.head() == head


def test_check_reports_an_unreadable_crm_as_failed(gate, sandbox):
    """A before-image read that fails makes the check say failed with the CRM's error, like propose."""
    [created] = gate.propose(new_lead())
    sandbox.inject_fault("get_many", code="unavailable", status=503, whole_call=True)
    [c] = gate.check({"object": "Lead", "op": "update", "record_id": created.record_id,
                      "actor": "ai:lead-intake-1", "fields": {"Rating": "Hot"}})
    assert c.status == "failed" and c.error["status"] == 503
