"""Approvals pinned where the mutation campaign found the other tests silent: the re-check of a
queued delete, separation of duties and claims, and the approval's write outcome."""
from __future__ import annotations

import dataclasses

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


class WritesThenBreaks:
    """A CRM client with a bug: its update applies the write, then raises a plain exception (not a
    CRMError), as an adapter defect would. Every other call goes to the real sandbox."""

    def __init__(self, crm) -> None:
        self._crm = crm

    def update_many(self, *args, **kwargs):
        self._crm.update_many(*args, **kwargs)
        raise RuntimeError("adapter bug after sending")

    def __getattr__(self, name):
        return getattr(self._crm, name)


def test_an_adapter_bug_during_the_approved_write_is_recorded_unknown_then_raised(make_gate, sandbox):
    """An adapter that raises something other than a CRMError after the intent: the approval first
    records the write's result as unknown (code unknown_outcome, ambiguous) and leaves the change on
    reconcile's work list, then lets the bug surface; nothing is left without a result."""
    from tests.connector.conftest import hygiene

    gate = make_gate(WritesThenBreaks(sandbox))
    deal = gate.propose(opp())[0].record_id
    q = gate.propose(hygiene(deal, ForecastCategoryName="Commit"))[0]
    with pytest.raises(RuntimeError):
        gate.approve(q.change_id, by="admin:ana")
    entries = gate.store.entries_for(change_id=q.change_id)
    assert [e.kind for e in entries][-2:] == ["write.intent", "write.result"]
    result = entries[-1].data
    assert result["status"] == "unknown" and result["error"]["code"] == "unknown_outcome"
    assert result["error"]["ambiguous"] is True and "RuntimeError" in result["error"]["message"]
    assert gate.show_approval(q.change_id)["status"] == "unknown"
    assert [v.change_id for v in gate.reconcile().items] == [q.change_id]


def test_an_edit_that_breaks_the_rules_says_the_edited_change(gate, queued):
    """An edited value the rules refuse: invalid_change, and the message says it is the *edited*
    change that breaks them (the AI's proposal itself passed), with the first violation's words."""
    err = _refusal(lambda: gate.approve(queued.change_id, by="admin:ana", edits={"ForecastCategoryName": "Maybe"}))
    assert err.code == "invalid_change"
    assert err.message.startswith("the edited change breaks the rules: ")
    assert err.message.endswith(err.details["violations"][0]["message"])


def test_an_edited_value_a_proposal_cannot_hold_is_bad_input(gate, queued):
    """--set with a value a proposal cannot hold (NaN) is refused as invalid_change naming the
    problem, not a crash; nothing is written."""
    head = gate.store.head()
    err = _refusal(lambda: gate.approve(queued.change_id, by="admin:ana",
                                        edits={"ForecastCategoryName": float("nan")}))
    assert err.code == "invalid_change" and err.message.startswith("the edited values are not valid: ")
    assert "ForecastCategoryName is not a finite number" in err.details["problems"][0]["message"]
    assert gate.store.head() == head


class AnswersWithInfo:
    """A CRM client whose update answers carry ``info`` (as the Salesforce adapter's version-check
    notes do); everything else is the sandbox."""

    def __init__(self, crm) -> None:
        self._crm = crm

    def update_many(self, *args, **kwargs):
        return [dataclasses.replace(r, info={"version_check": "if-unmodified-since"})
                for r in self._crm.update_many(*args, **kwargs)]

    def __getattr__(self, name):
        return getattr(self._crm, name)


def test_the_approved_writes_result_keeps_the_adapters_info(make_gate, sandbox):
    """What the adapter notes about the write (``info``) reaches the approval's write.result; with
    no notes the entry says None."""
    from tests.connector.conftest import hygiene

    gate = make_gate(AnswersWithInfo(sandbox))
    deal = gate.propose(opp())[0].record_id
    q = gate.propose(hygiene(deal, ForecastCategoryName="Commit"))[0]
    assert gate.approve(q.change_id, by="admin:ana").status == "applied"
    assert gate.store.entries_for(change_id=q.change_id)[-1].data["info"] == {"version_check": "if-unmodified-since"}
    plain = make_gate(sandbox)
    q2 = plain.propose(hygiene(plain.propose(opp())[0].record_id, ForecastCategoryName="Commit"))[0]
    plain.approve(q2.change_id, by="admin:ana")
    assert plain.store.entries_for(change_id=q2.change_id)[-1].data["info"] is None


def test_the_approved_writes_result_records_the_values_after(gate, queued, sandbox):
    """An approved update's write.result holds, per written field, the value the record has after
    the write (what rollback and reconcile compare against); the approval's answer is frozen."""
    result = gate.approve(queued.change_id, by="admin:ana")
    entry = gate.store.entries_for(change_id=queued.change_id)[-1]
    assert entry.kind == "write.result" and entry.data["after"] == {"ForecastCategoryName": "Commit"}
    assert entry.data["version"] == sandbox.get_many("Opportunity", [queued.record_id])[queued.record_id].version
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = "failed"  # type: ignore[misc]
