"""Approvals pinned where the mutation campaign found the other tests silent: the re-check of a
queued delete, separation of duties and claims, and the approval's write outcome."""
from __future__ import annotations

import pytest

from crmgate.errors import ApprovalError
from crmgate.project.scaffold import example_rulebook
from crmgate.rules.loader import parse_rulebook
from tests.connector.conftest import opp


def _delete_gate(make_gate, sandbox):
    text = example_rulebook().replace("- {op: delete, tier: critical}", "- {op: delete, tier: high}")
    return make_gate(sandbox, rules=parse_rulebook(text))


def _queued_delete(gate, **fields):
    rid = gate.propose(opp(**fields))[0].record_id
    q = gate.propose({"object": "Opportunity", "op": "delete", "record_id": rid,
                      "actor": "ai:deal-hygiene", "confidence": 0.99})[0]
    assert q.status == "queued"
    return rid, q


def test_a_field_filled_in_since_a_delete_was_queued_makes_it_stale(make_gate, sandbox):
    """A delete writes every field: a field that was empty at queueing and holds a value now is a
    change the approver never saw, so the delete is stale (check ``fields``), the field is reported
    as changed (queued empty, now the value) and the record is not deleted."""
    gate = _delete_gate(make_gate, sandbox)
    rid, q = _queued_delete(gate)
    sandbox.edit("Opportunity", rid, {"NextStep": "Call the CFO"})
    result = gate.approve(q.change_id, by="admin:ana")
    assert (result.status, result.recheck["check"]) == ("stale", "fields"), result.to_dict()
    assert {"field": "NextStep", "queued": None, "now": "Call the CFO", "proposed": None,
            "changed": True} in result.recheck["fields"]
    assert rid in sandbox.get_many("Opportunity", [rid])


def test_an_untouched_queued_delete_passes_every_check(make_gate, sandbox):
    """A delete whose record did not change since queueing passes the record, fields and rules
    checks and deletes the record."""
    gate = _delete_gate(make_gate, sandbox)
    rid, q = _queued_delete(gate, NextStep="Call the CFO")
    result = gate.approve(q.change_id, by="admin:ana")
    assert result.status == "applied", result.to_dict()
    assert result.recheck["passed"] == ["record", "fields", "rules"] and result.recheck["check"] is None
    assert all(not f["changed"] for f in result.recheck["fields"])
    assert sandbox.get_many("Opportunity", [rid]) == {}


def test_a_deleted_record_is_stale_for_a_queued_delete(make_gate, sandbox):
    """A queued delete of a record that is already gone is stale by the record check, with its
    message naming the record."""
    from crmgate.adapters.base import DeleteRequest

    gate = _delete_gate(make_gate, sandbox)
    rid, q = _queued_delete(gate)
    sandbox.delete_many("Opportunity", [DeleteRequest(rid)])
    result = gate.approve(q.change_id, by="admin:ana")
    assert (result.status, result.recheck["check"]) == ("stale", "record")
    assert result.error["message"] == f"Opportunity {rid} no longer exists"
    assert result.recheck["passed"] == []


def test_a_recheck_verdict_cannot_be_altered():
    """The re-check's verdict is frozen: what the trail records as the reason to write (or not) is
    the verdict that decided, never one edited afterwards."""
    import dataclasses

    from crmgate.approvals.recheck import Recheck

    verdict = Recheck(False, None, "ok", "v1", "v2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.stale = True  # type: ignore[misc]


@pytest.fixture
def queued(gate):
    """A high-risk change held for a person: ForecastCategoryName on a fresh deal."""
    from tests.connector.conftest import hygiene

    deal = gate.propose(opp())[0].record_id
    q = gate.propose(hygiene(deal, ForecastCategoryName="Commit"))[0]
    assert q.status == "queued"
    return q


def _refusal(fn) -> ApprovalError:
    with pytest.raises(ApprovalError) as exc:
        fn()
    return exc.value


def test_an_edit_of_fields_not_proposed_names_them_in_a_sentence(gate, queued):
    """--set on a field the AI did not propose is refused (edits_not_allowed, nothing written), and
    the message names the field with the right verb: one field "is", several "are"."""
    head = gate.store.head()
    one = _refusal(lambda: gate.approve(queued.change_id, by="admin:ana", edits={"NextStep": "x"}))
    assert one.code == "edits_not_allowed"
    assert one.message.startswith("NextStep is not part of the proposed change (fields: ForecastCategoryName)")
    two = _refusal(lambda: gate.approve(queued.change_id, by="admin:ana", edits={"NextStep": "x", "Amount": 1}))
    assert two.message.startswith("Amount, NextStep are not part of the proposed change")
    assert gate.store.head() == head and gate.approvals()[0].status == "pending"
