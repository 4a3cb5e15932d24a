"""The governed write path through ``Gate.propose`` on the sandbox and a signed trail."""
from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from crmgate.adapters.sandbox.adapter import SandboxAdapter
from crmgate.errors import ProposalError
from crmgate.trail import TrailStore, verify_store
from tests.connector.conftest import hygiene, lead, opp


def kinds(gate, **by):
    return [e.kind for e in gate.store.entries_for(**by)]


def test_acceptance_scenario_outcomes(gate, sandbox):
    """Each behaviour the issue names holds through the Python API, and rejected/shadowed
    proposals leave the record exactly as it was."""
    created = gate.propose(lead())[0]
    assert created.status == "applied" and created.record_id and created.change_id
    before = sandbox.get_many("Lead", [created.record_id])[created.record_id]

    blank = gate.propose({**lead(), "op": "update", "record_id": created.record_id,
                          "fields": {"Company": ""}})[0]
    assert blank.status == "rejected"
    assert [v.code for v in blank.violations] == ["required_field_missing"]

    shadow = gate.propose({"object": "Lead", "op": "update", "record_id": created.record_id,
                           "actor": "ai:lead-scorer-2", "fields": {"Rating": "Hot"}})[0]
    assert shadow.status == "shadowed" and shadow.would == "apply" and shadow.change_id is None
    assert sandbox.get_many("Lead", [created.record_id])[created.record_id] == before

    o = gate.propose(opp())[0]
    nego = gate.propose(hygiene(o.record_id, StageName="Negotiation"))[0]
    assert nego.status == "rejected"
    assert {(v.code, v.field) for v in nego.violations} == {
        ("required_field_missing", "Amount"), ("required_field_missing", "NextStep")}
    fc = gate.propose(hygiene(o.record_id, ForecastCategoryName="Commit"))[0]
    assert (fc.status, fc.tier) == ("queued", "high") and fc.change_id
    low = gate.propose(hygiene(o.record_id, confidence=0.5, NextStep="Call"))[0]
    assert low.status == "queued" and low.rule == "use_cases.deal_hygiene.min_confidence"
    dele = gate.propose({"object": "Opportunity", "op": "delete", "record_id": o.record_id,
                         "actor": "ai:deal-hygiene", "confidence": 0.99})[0]
    assert dele.status == "rejected"
    assert [v.code for v in dele.violations] == ["blocked_by_risk_tier"]
    assert sandbox.get_many("Opportunity", [o.record_id])  # still there


def test_applied_change_is_recorded_intent_before_result(gate, sandbox):
    """An applied update leaves decided, intent and result entries, in that order, with before and
    after values, the deciding rule, and the proposal's actor, confidence, reasons and inputs."""
    o = gate.propose(opp())[0]
    out = gate.propose({**hygiene(o.record_id, CloseDate="2027-03-31"),
                        "reasons": ["meeting moved"], "inputs": {"email_id": "m-1"}})[0]
    assert out.status == "applied"
    entries = gate.store.entries_for(change_id=out.change_id)
    assert [e.kind for e in entries] == ["proposal.decided", "write.intent", "write.result"]
    decided, intent, result = entries
    assert decided.seq < intent.seq < result.seq
    assert decided.data["proposal"]["confidence"] == 0.9
    assert decided.data["proposal"]["reasons"] == ["meeting moved"]
    assert decided.data["proposal"]["inputs"] == {"email_id": "m-1"}
    assert decided.data["decision"]["rule"] == "risk.default"
    assert intent.data["changes"] == [{"field": "CloseDate", "before": "2027-01-29", "after": "2027-03-31"}]
    assert intent.data["expected_version"] == decided.data["before"]["version"]
    assert result.data["status"] == "ok" and result.data["after"] == {"CloseDate": "2027-03-31"}
    assert all(e.actor == "ai:deal-hygiene" and e.use_case == "deal_hygiene" for e in entries)


def test_rejected_and_shadowed_write_nothing(gate, sandbox):
    """Neither a rejection nor a shadow decision reaches the CRM: no intent, no write call."""
    created = gate.propose(lead())[0]
    sandbox.calls.clear()
    outs = gate.propose([
        {**lead(), "op": "update", "record_id": created.record_id, "fields": {"Company": None}},
        {"object": "Lead", "op": "update", "record_id": created.record_id,
         "actor": "ai:lead-scorer-2", "fields": {"Rating": "Cold"}}])
    assert [o.status for o in outs] == ["rejected", "shadowed"]
    assert [c[0] for c in sandbox.calls if c[0] != "get_many"] == []
    for o in outs:
        assert kinds(gate, proposal_id=o.proposal_id) == ["proposal.decided"]


def test_queued_change_lists_with_expiry(gate, clock):
    """A queued change appears in the approval queue with its base version, and reads as expired
    once the approval window (72 h by default) has passed."""
    o = gate.propose(opp())[0]
    fc = gate.propose(hygiene(o.record_id, ForecastCategoryName="Commit"))[0]
    [q] = gate.approvals(status="pending")
    assert q.change_id == fc.change_id and q.base_version and q.changes[0]["after"] == "Commit"
    clock.advance(72 * 3600 + 1)
    assert gate.approvals(status="pending") == []
    assert [q.status for q in gate.approvals()] == ["expired"]


@pytest.mark.parametrize("n", [1, 200, 201, 500])
def test_many_proposals_use_batched_calls(gate, sandbox, n):
    """N creates cost ceil(N/max_batch) create calls; N updates one read per object chunk plus
    ceil(N/max_batch) update calls, never one call per record."""
    outs = gate.propose([lead(LastName=f"L{i}") for i in range(n)])
    assert {o.status for o in outs} == {"applied"}
    creates = [c for c in sandbox.calls if c[0] == "create_many"]
    assert len(creates) == math.ceil(n / sandbox.max_batch)
    sandbox.calls.clear()
    outs = gate.propose([{**lead(), "op": "update", "record_id": o.record_id,
                          "fields": {"NumberOfEmployees": 10}} for o in outs])
    assert {o.status for o in outs} == {"applied"}
    methods = [c[0] for c in sandbox.calls]
    assert methods.count("update_many") == math.ceil(n / sandbox.max_batch)
    assert methods.count("get_many") <= math.ceil(n / sandbox.max_batch)


def test_same_record_twice_in_one_batch_runs_in_order(gate, sandbox):
    """Two proposals for one record in one batch are applied one after the other; the second's
    before-image is the first's result."""
    o = gate.propose(opp())[0]
    a, b = gate.propose([hygiene(o.record_id, NextStep="one"), hygiene(o.record_id, NextStep="two")])
    assert (a.status, b.status) == ("applied", "applied")
    assert b.changes[0].before == "one"
    assert sandbox.get_many("Opportunity", [o.record_id])[o.record_id].fields["NextStep"] == "two"


class EditingSandbox(SandboxAdapter):
    """A CRM where a person saves the record between crmgate's read and its write."""

    def update_many(self, object, requests):
        for r in requests:
            self.edit(object, r.id, {"NextStep": "the rep's plan"}, actor="person:rep")
        return super().update_many(object, requests)


def test_concurrent_person_edit_is_a_conflict(make_gate, tmp_path, clock):
    """A record changed after its before-image was read is a conflict: nothing is overwritten and
    the trail records the conflict."""
    crm = EditingSandbox(tmp_path / "edit.db", clock=clock)
    gate = make_gate(crm)
    o = gate.propose(opp())[0]
    out = gate.propose(hygiene(o.record_id, NextStep="the AI's plan"))[0]
    assert out.status == "conflict"
    assert crm.get_many("Opportunity", [o.record_id])[o.record_id].fields["NextStep"] == "the rep's plan"
    assert gate.store.entries_for(change_id=out.change_id)[-1].data["status"] == "conflict"


def test_per_record_crm_failure_applies_the_rest(gate, sandbox):
    """A record the CRM refuses fails alone with the CRM's code; the others are applied, and the
    trail shows both."""
    outs = gate.propose([lead(LastName=f"L{i}") for i in range(3)])
    sandbox.inject_fault("update_many", code="FIELD_CUSTOM_VALIDATION_EXCEPTION", record_id=outs[1].record_id,
                         status=400)
    ups = gate.propose([{**lead(), "op": "update", "record_id": o.record_id, "fields": {"Rating": "Warm"}}
                        for o in outs])
    assert [u.status for u in ups] == ["applied", "failed", "applied"]
    assert ups[1].error["code"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert gate.store.entries_for(change_id=ups[1].change_id)[-1].data["error"]["code"] == \
        "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert sandbox.get_many("Lead", [outs[1].record_id])[outs[1].record_id].fields.get("Rating") is None


def test_whole_call_failure_fails_every_record_and_is_recorded(gate, sandbox):
    """When the CRM call itself fails, every proposal in it is failed with the error, each result
    is in the trail, and no record changed."""
    o = gate.propose(opp())[0]
    sandbox.inject_fault("update_many", code="UNAVAILABLE", whole_call=True, status=503)
    out = gate.propose(hygiene(o.record_id, NextStep="x"))[0]
    assert out.status == "failed" and out.error["code"] == "UNAVAILABLE"
    assert kinds(gate, change_id=out.change_id) == ["proposal.decided", "write.intent", "write.result"]
    assert sandbox.get_many("Opportunity", [o.record_id])[o.record_id].fields.get("NextStep") is None


def test_before_image_read_failure_writes_nothing(gate, sandbox):
    """If the before-image cannot be read, the proposal fails without a write intent."""
    o = gate.propose(opp())[0]
    sandbox.inject_fault("get_many", code="UNAVAILABLE", whole_call=True, status=503)
    out = gate.propose(hygiene(o.record_id, NextStep="x"))[0]
    assert out.status == "failed" and out.change_id is None
    assert kinds(gate, proposal_id=out.proposal_id) == ["proposal.decided"]


def test_idempotency_key_replays_instead_of_redoing(gate, sandbox):
    """A repeated idempotency key, in a later call or the same batch, returns the first outcome
    and creates nothing more."""
    first = gate.propose({**lead(), "idempotency_key": "k-1"})[0]
    again, same_batch = gate.propose([{**lead(), "idempotency_key": "k-1"},
                                      {**lead(), "idempotency_key": "k-2"}])[0:2]
    twice = gate.propose([{**lead(), "idempotency_key": "k-3"}, {**lead(), "idempotency_key": "k-3"}])
    assert again.replayed and again.record_id == first.record_id and again.status == "applied"
    assert twice[1].replayed and twice[1].record_id == twice[0].record_id
    assert len([c for c in sandbox.calls if c[0] == "create_many"]) == 3


def test_malformed_proposals_are_refused_whole(gate):
    """One malformed proposal in a batch refuses the whole batch before anything is recorded."""
    with pytest.raises(ProposalError) as exc:
        gate.propose([lead(), {"object": "Lead", "op": "update", "actor": "ai:x"}])
    assert exc.value.code == "invalid_proposal"
    assert exc.value.details["problems"][0]["index"] == 1
    assert gate.store.head()[0] == 0


def test_no_change_update_makes_no_write(gate, sandbox):
    """An update whose values already hold is applied without a CRM write or a change id."""
    o = gate.propose(opp())[0]
    sandbox.calls.clear()
    out = gate.propose(hygiene(o.record_id, StageName="Proposal"))[0]
    assert out.status == "applied" and out.change_id is None and out.changes == ()
    assert "update_many" not in [c[0] for c in sandbox.calls]


class ExplodingSandbox(SandboxAdapter):
    """An adapter with a bug: it raises something outside the CRMError tree."""

    def update_many(self, object, requests):
        raise ZeroDivisionError("bug")


def test_adapter_bug_is_recorded_before_it_surfaces(make_gate, tmp_path, clock):
    """An unexpected adapter exception still leaves a result entry (unknown outcome) in the trail."""
    gate = make_gate(ExplodingSandbox(tmp_path / "x.db", clock=clock))
    o = gate.propose(opp())[0]
    with pytest.raises(ZeroDivisionError):
        gate.propose(hygiene(o.record_id, NextStep="x"))
    last = gate.store.read(1, 100)[-1]
    assert last.kind == "write.result" and last.data["error"]["code"] == "unknown_outcome"


def test_write_path_on_both_stores(make_gate, sandbox, store_url, keypair):
    """The write path and its trail work the same on SQLite and PostgreSQL, and verify."""
    gate = make_gate(sandbox, url=store_url)
    o = gate.propose(opp())[0]
    out = gate.propose(hygiene(o.record_id, NextStep="x"))[0]
    assert out.status == "applied"
    report = verify_store(gate.store, keypair[1])
    assert report.ok, report.problems
    assert report.entries == 6


def test_another_actors_idempotency_key_is_refused_not_replayed(gate):
    """Keys are global: a second actor reusing one gets a failed outcome that reveals nothing of the
    first outcome, is not recorded, and the first actor still gets its own replay."""
    first = {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1", "idempotency_key": "k-1",
             "fields": {"LastName": "Ng", "Company": "Initech", "Email": "ceo@initech.example"}}
    [mine] = gate.propose(first)
    head = gate.store.head()
    [theirs] = gate.propose({**first, "actor": "ai:lead-intake-2", "fields": {"LastName": "X", "Company": "Y"}})
    assert (theirs.status, theirs.error["code"]) == ("failed", "idempotency_key_in_use")
    assert theirs.record_id is None and "initech" not in repr(theirs.to_dict()).lower()
    assert gate.store.head() == head
    [check] = gate.check({**first, "actor": "ai:lead-intake-2"})
    assert check.status == "failed" and check.error["code"] == "idempotency_key_in_use"
    [again] = gate.propose(first)
    assert again.replayed and again.record_id == mine.record_id


# Every append is signed, the intent's too, though the result's checkpoint would cover it: an
# unsigned intent would fail a live ``trail verify`` or export for the whole CRM call.
def _checkpoints(gate) -> list[int]:
    with gate.store.engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT seq FROM trail_checkpoints ORDER BY seq")).scalars())


def _lead(name: str) -> dict:
    return {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
            "fields": {"LastName": name, "Company": "Initech", "Email": f"{name.lower()}@initech.example"}}


def test_a_written_proposal_is_signed_at_its_intent_and_at_its_result(gate, keypair):
    """The intent's append carries its own checkpoint, before the CRM call; the result's another."""
    before = _checkpoints(gate)
    outcome = gate.propose(_lead("Ng"))[0]
    assert outcome.status == "applied"
    entries = gate.store.entries_for(change_id=outcome.change_id)
    assert [e.kind for e in entries] == ["proposal.decided", "write.intent", "write.result"]
    assert _checkpoints(gate) == [*before, entries[1].seq, entries[2].seq]
    assert not gate.store.unsealed
    assert verify_store(gate.store, keypair[1]).ok


def test_a_proposal_that_writes_nothing_is_signed_by_its_own_append(gate, keypair):
    """No result append follows a rejection: its decision's append carries the checkpoint."""
    before = _checkpoints(gate)
    bad = {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1", "fields": {"LastName": "Ng"}}
    outcome = gate.propose(bad)[0]
    assert outcome.status in ("rejected", "queued")
    entries = gate.store.entries_for(proposal_id=outcome.proposal_id)
    assert [e.kind for e in entries] == ["proposal.decided"]
    assert _checkpoints(gate) == [*before, entries[-1].seq]
    assert not gate.store.unsealed
    assert verify_store(gate.store, keypair[1]).ok
