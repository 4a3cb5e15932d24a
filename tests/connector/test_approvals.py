"""The approval queue: separation of duties, approvers, expiry, re-check at write time, edits, reject."""
from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from crmgate.adapters.base import DeleteRequest
from crmgate.doors.cli import cli
from crmgate.errors import ApprovalError, RollbackError
from crmgate.project.scaffold import example_rulebook
from crmgate.rules.loader import parse_rulebook
from tests.connector.conftest import hygiene, opp


def fields(sandbox, rid):
    return sandbox.get_many("Opportunity", [rid])[rid].fields


def kinds(gate, change_id):
    return [e.kind for e in gate.store.entries_for(change_id=change_id)]


@pytest.fixture
def deal(gate):
    return gate.propose(opp())[0].record_id


@pytest.fixture
def queued(gate, deal):
    """A high-risk change held for a person (ForecastCategoryName)."""
    q = gate.propose(hygiene(deal, ForecastCategoryName="Commit"))[0]
    assert q.status == "queued"
    return q


def refused(fn, code):
    with pytest.raises(ApprovalError) as exc:
        fn()
    assert exc.value.code == code, exc.value.to_dict()
    return exc.value


def test_ai_and_proposer_are_refused_and_nothing_is_written(gate, sandbox, deal, queued):
    """An ai: approver and the proposing actor are refused with their own codes; the trail, the
    CRM and the queue row are untouched."""
    head, before = gate.store.head(), fields(sandbox, deal)
    refused(lambda: gate.approve(queued.change_id, by="ai:deal-hygiene"), "approver_is_proposer")
    refused(lambda: gate.approve(queued.change_id, by="ai:helper"), "approver_is_ai")
    refused(lambda: gate.approve(queued.change_id, by="AI:Helper"), "approver_is_ai")
    refused(lambda: gate.reject(queued.change_id, by="ai:helper", reason="no"), "approver_is_ai")
    refused(lambda: gate.approve(queued.change_id, by="  "), "approver_missing")
    assert gate.store.head() == head and fields(sandbox, deal) == before
    assert gate.approvals()[0].status == "pending"


def test_a_person_proposer_cannot_approve_their_own_change(make_gate, sandbox):
    """A non-AI proposer (a service account) still never approves its own change."""
    text = example_rulebook().replace('actors: ["ai:deal-hygiene"]', 'actors: ["ai:deal-hygiene", "svc:*"]')
    gate = make_gate(sandbox, rules=parse_rulebook(text))
    rid = gate.propose(opp())[0].record_id
    q = gate.propose({**hygiene(rid, ForecastCategoryName="Commit"), "actor": "svc:sync"})[0]
    refused(lambda: gate.approve(q.change_id, by="svc:sync"), "approver_is_proposer")
    assert gate.approve(q.change_id, by="svc:other").status == "applied"


def test_tier_approvers_take_precedence_over_use_case_approvers(make_gate, sandbox):
    """risk.approvers names who approves a tier; a change queued at another tier falls back to the
    use case's approvers; anyone else is refused with the rule that refused them."""
    text = example_rulebook().replace(
        "  tiers: {low: apply", "  approvers: {high: ['admin:*']}\n  tiers: {low: apply").replace(
        "    min_confidence: 0.7\n", "    min_confidence: 0.7\n    approvers: ['ops:*']\n", 1)
    gate = make_gate(sandbox, rules=parse_rulebook(text))
    rid, rid2 = (o.record_id for o in gate.propose([opp(), opp()]))
    high = gate.propose(hygiene(rid, ForecastCategoryName="Commit"))[0]
    low = gate.propose(hygiene(rid2, NextStep="Call", confidence=0.5))[0]
    err = refused(lambda: gate.approve(high.change_id, by="ops:bo"), "approver_not_allowed")
    assert err.details["rule"] == "risk.approvers.high" and err.details["allowed"] == ["admin:*"]
    err = refused(lambda: gate.approve(low.change_id, by="admin:ana"), "approver_not_allowed")
    assert err.details["rule"] == "use_cases.deal_hygiene.approvers"
    assert gate.approve(high.change_id, by="admin:ana").status == "applied"
    assert gate.approve(low.change_id, by="ops:bo").status == "applied"


def test_expired_change_cannot_be_approved_but_can_be_rejected(gate, clock, queued):
    """Past its 72 h window a change reads as expired and cannot be approved; rejecting it is allowed."""
    clock.advance(72 * 3600 + 1)
    head = gate.store.head()
    refused(lambda: gate.approve(queued.change_id, by="admin:ana"), "approval_expired")
    assert gate.store.head() == head
    rejected = gate.reject(queued.change_id, by="admin:ana", reason="stale")
    assert rejected.status == "rejected" and gate.approvals()[0].status == "rejected"


def test_approved_change_is_written_and_linked_in_the_trail(gate, sandbox, deal, queued):
    """Approval writes the change and appends approval.approved, write.intent and write.result
    under the queued change's id, so it rolls back like an auto-applied change."""
    result = gate.approve(queued.change_id, by="admin:ana", note="looks right")
    assert result.status == "applied" and fields(sandbox, deal)["ForecastCategoryName"] == "Commit"
    assert kinds(gate, queued.change_id) == ["proposal.decided", "approval.approved", "write.intent",
                                             "write.result"]
    approved = gate.store.entries_for(change_id=queued.change_id)[1]
    assert approved.actor == "admin:ana" and approved.proposal_id == queued.proposal_id
    assert approved.data["approval_id"] == result.approval_id and approved.data["note"] == "looks right"
    assert approved.data["edits"] == {} and approved.batch_id == queued.batch_id
    [row] = gate.approvals(status="approved")
    assert row.decided_by == "admin:ana"
    refused(lambda: gate.approve(queued.change_id, by="admin:bo"), "not_pending")
    assert gate.rollback(queued.change_id, by="admin:bo").status == "reverted"
    assert fields(sandbox, deal).get("ForecastCategoryName") is None


def test_edited_approval_writes_the_persons_value_and_keeps_both(gate, sandbox, deal, queued):
    """--set replaces the AI's value; the trail keeps the proposed and the approved value."""
    result = gate.approve(queued.change_id, by="admin:ana", edits={"ForecastCategoryName": "Best Case"})
    assert result.status == "applied" and fields(sandbox, deal)["ForecastCategoryName"] == "Best Case"
    _, approved, intent, _ = gate.store.entries_for(change_id=queued.change_id)
    assert approved.data["edits"] == {"ForecastCategoryName": {"proposed": "Commit", "approved": "Best Case"}}
    assert approved.data["changes"] == [{"field": "ForecastCategoryName", "before": None, "after": "Best Case"}]
    assert intent.data["fields"] == {"ForecastCategoryName": "Best Case"} and intent.data["approved_by"] == "admin:ana"


def test_an_edit_that_breaks_the_rules_is_refused(gate, sandbox, deal, queued):
    """The edited change is validated again: a bad picklist value is refused with the violations;
    a field the AI never proposed (even a high-risk one) is not an edit but a new change, and is
    refused too. Nothing is written."""
    head = gate.store.head()
    err = refused(lambda: gate.approve(queued.change_id, by="admin:ana",
                                       edits={"ForecastCategoryName": "Maybe"}), "invalid_change")
    assert err.details["violations"][0]["code"] == "invalid_picklist_value"
    refused(lambda: gate.approve(queued.change_id, by="admin:ana", edits={"OwnerId": "005x"}),
            "edits_not_allowed")
    refused(lambda: gate.approve(queued.change_id, by="admin:ana", edits={"StageName": "Closed Won"}),
            "edits_not_allowed")
    assert gate.store.head() == head and gate.approvals()[0].status == "pending"


def test_other_fields_moving_does_not_stale_the_change(gate, sandbox, deal, queued):
    """A person edited another field after the change was queued: the change is still the one the
    approver reviews, so it is written against the record's current version; the trail says which
    checks passed."""
    sandbox.edit("Opportunity", deal, {"NextStep": "rep"})
    result = gate.approve(queued.change_id, by="admin:ana")
    assert result.status == "applied", result.to_dict()
    assert fields(sandbox, deal)["ForecastCategoryName"] == "Commit" and fields(sandbox, deal)["NextStep"] == "rep"
    approved = gate.store.entries_for(change_id=queued.change_id)[1]
    assert approved.data["recheck"]["result"] == "current"
    assert approved.data["recheck"]["passed"] == ["record", "fields", "rules"]
    assert approved.data["recheck"]["version"] != approved.data["recheck"]["queued_version"]


def test_a_written_field_moving_makes_the_change_stale(gate, sandbox, deal, queued):
    """A person set the very field the change writes: approving records approval.stale with the
    three values, writes nothing, and the change can neither be approved again nor rolled back."""
    sandbox.edit("Opportunity", deal, {"ForecastCategoryName": "Pipeline"})
    result = gate.approve(queued.change_id, by="admin:ana")
    assert result.status == "stale" and result.error["code"] == "stale" and result.error["check"] == "fields"
    assert result.recheck["fields"] == [{"field": "ForecastCategoryName", "queued": None, "now": "Pipeline",
                                         "proposed": "Commit", "changed": True}]
    assert "was empty at queueing, is 'Pipeline' now" in result.message
    assert fields(sandbox, deal)["ForecastCategoryName"] == "Pipeline"
    assert kinds(gate, queued.change_id) == ["proposal.decided", "approval.stale"]
    stale = gate.store.entries_for(change_id=queued.change_id)[-1]
    assert stale.actor == "admin:ana" and stale.data["recheck"]["check"] == "fields"
    assert gate.approvals()[0].status == "stale"
    assert refused(lambda: gate.approve(queued.change_id, by="admin:ana"), "not_pending").details["status"] == "stale"
    with pytest.raises(RollbackError) as exc:
        gate.rollback(queued.change_id)
    assert exc.value.code == "not_applied"


def test_rules_that_now_refuse_make_the_change_stale(gate, sandbox, deal, queued):
    """The record moved so that the rules reject the change now (Negotiation requires an Amount the
    deal lacks): stale, decided by the rules check, nothing written."""
    sandbox.edit("Opportunity", deal, {"StageName": "Negotiation", "NextStep": "Call"})
    result = gate.approve(queued.change_id, by="admin:ana")
    assert result.status == "stale" and result.recheck["check"] == "rules", result.to_dict()
    assert result.recheck["passed"] == ["record", "fields"]
    assert result.recheck["violations"][0]["code"] == "required_field_missing"
    assert "ForecastCategoryName" not in fields(sandbox, deal)


def test_requeue_decides_the_stale_change_again(gate, sandbox, deal, queued):
    """requeue gives a new pending change against the record now, linked both ways in the trail;
    it approves cleanly; the old one is requeued and cannot be requeued twice."""
    sandbox.edit("Opportunity", deal, {"ForecastCategoryName": "Pipeline"})
    assert gate.approve(queued.change_id, by="admin:ana").status == "stale"
    refused(lambda: gate.requeue(queued.change_id, by="ai:helper"), "approver_is_ai")
    new = gate.requeue(queued.change_id, by="admin:ana")
    assert new["status"] == "pending" and new["requeued_from"] == queued.change_id
    assert new["changes"] == [{"field": "ForecastCategoryName", "before": "Pipeline", "after": "Commit"}]
    assert new["proposal_id"] == queued.proposal_id and new["actor"] == "ai:deal-hygiene"
    assert kinds(gate, queued.change_id)[-1] == "approval.requeued"
    assert gate.show_approval(queued.change_id)["requeued_as"] == new["change_id"]
    assert gate.show_approval(new["change_id"])["requeued_from"] == queued.change_id
    refused(lambda: gate.requeue(queued.change_id, by="admin:ana"), "not_stale")
    refused(lambda: gate.requeue(new["change_id"], by="admin:ana"), "not_stale")
    done = gate.approve(new["change_id"], by="admin:bo")
    assert done.status == "applied" and fields(sandbox, deal)["ForecastCategoryName"] == "Commit"
    assert gate.rollback(new["change_id"], by="admin:bo").status == "reverted"
    assert fields(sandbox, deal)["ForecastCategoryName"] == "Pipeline"


def test_requeue_refuses_when_the_rules_now_reject_or_nothing_is_left(gate, sandbox, deal, queued):
    """Requeueing writes nothing when the rules now reject the change or when the record already
    holds the proposed value."""
    sandbox.edit("Opportunity", deal, {"ForecastCategoryName": "Pipeline"})
    gate.approve(queued.change_id, by="admin:ana")
    sandbox.edit("Opportunity", deal, {"StageName": "Negotiation", "NextStep": "Call"})
    head = gate.store.head()
    refused(lambda: gate.requeue(queued.change_id, by="admin:ana"), "invalid_change")
    sandbox.edit("Opportunity", deal, {"StageName": "Proposal", "ForecastCategoryName": "Commit"})
    refused(lambda: gate.requeue(queued.change_id, by="admin:ana"), "nothing_to_requeue")
    assert gate.store.head() == head and gate.approvals()[0].status == "stale"


def test_deleted_record_is_stale(make_gate, sandbox):
    """A record deleted since queueing cannot be updated by its approval: stale, by the record check."""
    gate = make_gate(sandbox)
    rid = gate.propose(opp())[0].record_id
    q = gate.propose(hygiene(rid, ForecastCategoryName="Commit"))[0]
    sandbox.delete_many("Opportunity", [DeleteRequest(rid)])
    result = gate.approve(q.change_id, by="admin:ana")
    assert (result.status, result.recheck["check"]) == ("stale", "record")


def test_edit_between_read_and_write_is_a_conflict(gate, sandbox, deal, queued, monkeypatch):
    """The approval's write is conditional on the version it re-checked: a person's edit in between
    is a conflict, recorded as the write's result."""
    real = sandbox.get_many

    def read_then_person_edits(obj, ids):
        got = real(obj, ids)
        sandbox.edit("Opportunity", deal, {"NextStep": "rep, meanwhile"})
        return got

    monkeypatch.setattr(sandbox, "get_many", read_then_person_edits)
    result = gate.approve(queued.change_id, by="admin:ana")
    monkeypatch.undo()
    assert result.status == "conflict" and fields(sandbox, deal)["NextStep"] == "rep, meanwhile"
    assert kinds(gate, queued.change_id)[-2:] == ["write.intent", "write.result"]
    assert gate.approvals()[0].status == "conflict"


def test_reject_records_who_and_why(gate, sandbox, deal, queued):
    """Rejecting appends approval.rejected with the reason, writes nothing and closes the row."""
    before = fields(sandbox, deal)
    result = gate.reject(queued.change_id, by="admin:ana", reason="forecast is a human call")
    assert result.status == "rejected" and fields(sandbox, deal) == before
    entry = gate.store.entries_for(change_id=queued.change_id)[-1]
    assert entry.kind == "approval.rejected" and entry.actor == "admin:ana"
    assert entry.data == {"approval_id": result.approval_id, "by": "admin:ana",
                          "reason": "forecast is a human call"}
    refused(lambda: gate.reject(queued.change_id, by="admin:ana", reason="again"), "not_pending")
    refused(lambda: gate.approve("chg_nope", by="admin:ana"), "unknown_approval")


def test_approved_create_and_replayed_key(gate, sandbox):
    """A queued create is written on approval, and replaying its idempotency key returns the
    approved outcome rather than the stale 'queued'."""
    p = {**opp(Amount=50000), "idempotency_key": "deal-1"}
    q = gate.propose(p)[0]
    assert q.status == "queued"
    result = gate.approve(q.change_id, by="admin:ana")
    assert result.status == "applied" and fields(sandbox, result.record_id)["Amount"] == 50000
    replay = gate.propose(p)[0]
    assert replay.replayed and replay.status == "applied" and replay.record_id == result.record_id


def test_show_lists_the_history(gate, queued):
    """show returns the queue row with every trail entry of the change."""
    gate.approve(queued.change_id, by="admin:ana")
    shown = gate.show_approval(queued.change_id)
    assert shown["status"] == "approved"
    assert [h["kind"] for h in shown["history"]] == kinds(gate, queued.change_id)


# -- through the CLI -------------------------------------------------------------------------------



def cli_propose(run, *proposals):
    out = run("propose", "-", input="\n".join(json.dumps(p) for p in proposals)).stdout
    return [json.loads(line) for line in out.splitlines()]


def error_code(result) -> str:
    return json.loads(result.stderr)["error"]["code"]


def test_done_when_through_the_cli(run):
    """The issue's approval scenario: ai: and proposer refused (exit 2), an expired change refused,
    a change to another field does not stop an approval, an edited approval writes the edited value and the trail shows both."""
    [o] = cli_propose(run, opp())
    rid = o["record_id"]
    a, b, c = cli_propose(run, hygiene(rid, ForecastCategoryName="Commit"),
                          hygiene(rid, NextStep="Call", confidence=0.5),
                          hygiene(rid, CloseDate="2027-02-26", confidence=0.4))
    assert error_code(run("approvals", "approve", a["change_id"], "--by", "ai:deal-hygiene", code=2)) == \
        "approver_is_proposer"
    assert error_code(run("approvals", "approve", a["change_id"], "--by", "ai:reviewer", code=2)) == "approver_is_ai"

    with sqlite3.connect(run.project / "trail.db") as conn:  # the clock moved past b's window
        conn.execute("UPDATE crmgate_approvals SET expires_at = '2000-01-01T00:00:00.000000Z' "
                     "WHERE change_id = ?", (b["change_id"],))
    assert error_code(run("approvals", "approve", b["change_id"], "--by", "admin:ana", code=2)) == "approval_expired"
    assert [q["change_id"] for q in json.loads(run("approvals", "list", "--status", "expired").stdout)] == \
        [b["change_id"]]

    done = json.loads(run("approvals", "approve", a["change_id"], "--by", "admin:ana", "--note", "ok",
                          "--set", "ForecastCategoryName=Best Case").stdout)
    assert done["status"] == "applied"
    assert json.loads(run("records", "get", "Opportunity", rid).stdout)["fields"]["ForecastCategoryName"] == "Best Case"
    shown = json.loads(run("approvals", "show", a["change_id"]).stdout)
    approved = next(h for h in shown["history"] if h["kind"] == "approval.approved")
    assert approved["data"]["edits"] == {"ForecastCategoryName": {"proposed": "Commit", "approved": "Best Case"}}

    # c was queued before a's approval wrote another field: CloseDate itself did not move
    moved = json.loads(run("approvals", "approve", c["change_id"], "--by", "admin:ana").stdout)
    assert moved["status"] == "applied"
    assert json.loads(run("records", "get", "Opportunity", rid).stdout)["fields"]["CloseDate"] == "2027-02-26"

    [d] = cli_propose(run, hygiene(rid, Amount=100))
    rejected = json.loads(run("approvals", "reject", d["change_id"], "--by", "admin:ana",
                              "--reason", "not sure").stdout)
    assert rejected["status"] == "rejected"
    assert error_code(run("approvals", "reject", "chg_nope", "--by", "x", "--reason", "y", code=2)) == \
        "unknown_approval"
    assert json.loads(run("trail", "verify").stdout)["ok"] is True


@pytest.mark.parametrize("path", [["approvals", "show"], ["approvals", "approve"], ["approvals", "reject"]])
def test_new_commands_have_help(path):
    """Every approvals subcommand answers --help."""
    r = CliRunner().invoke(cli, [*path, "--help"])
    assert r.exit_code == 0 and "Usage:" in r.output


def test_queued_delete_cannot_be_edited_and_rolls_back(make_gate, sandbox):
    """A queued delete refuses --set, is written when approved as proposed, and its rollback
    re-creates the record."""
    text = example_rulebook().replace("- {op: delete, tier: critical}", "- {op: delete, tier: high}")
    gate = make_gate(sandbox, rules=parse_rulebook(text))
    rid = gate.propose(opp(NextStep="Call the CFO"))[0].record_id
    q = gate.propose({"object": "Opportunity", "op": "delete", "record_id": rid,
                      "actor": "ai:deal-hygiene", "confidence": 0.99})[0]
    assert q.status == "queued"
    refused(lambda: gate.approve(q.change_id, by="admin:ana", edits={"Name": "x"}), "edits_not_allowed")
    assert gate.approve(q.change_id, by="admin:ana").status == "applied"
    assert sandbox.get_many("Opportunity", [rid]) == {}
    back = gate.rollback(q.change_id)
    assert back.status == "reverted" and fields(sandbox, back.new_record_id)["NextStep"] == "Call the CFO"
