"""The write path's bookkeeping, pinned where the mutation campaign found the other tests silent
(docs/mutation.md): rounds, per-proposal failures inside a round, result entries, reasons."""
from __future__ import annotations

import sqlalchemy as sa

from tests.connector.conftest import hygiene, lead, opp


def _batch_kinds(gate, outs) -> list[tuple[str, str]]:
    """(kind, proposal_id) of every entry the batch wrote, in trail order."""
    ids = {o.proposal_id for o in outs}
    return [(e.kind, e.proposal_id) for e in gate.store.read(1, 1000) if e.proposal_id in ids]


def test_different_records_in_one_batch_share_one_round(gate):
    """Proposals for different records (a create and an update) run in ONE round: every decision
    and intent is committed, in submission order, before any result; not a round per proposal."""
    o = gate.propose(opp())[0]
    up, made = gate.propose([hygiene(o.record_id, NextStep="x"), lead()])
    assert (up.status, made.status) == ("applied", "applied")
    assert _batch_kinds(gate, [up, made]) == [
        ("proposal.decided", up.proposal_id), ("write.intent", up.proposal_id),
        ("proposal.decided", made.proposal_id), ("write.intent", made.proposal_id),
        ("write.result", up.proposal_id), ("write.result", made.proposal_id)]


def test_a_failed_before_image_fails_only_its_object(gate, sandbox):
    """A before-image read that fails fails the proposals of that object, with that reason, and the
    round goes on to decide and apply the others (whichever object is read first)."""
    o1, o2 = (gate.propose(opp(Name=n))[0] for n in ("a", "b"))
    ld = gate.propose(lead())[0]
    sandbox.inject_fault("get_many", code="UNAVAILABLE", whole_call=True, status=503)
    outs = gate.propose([hygiene(o1.record_id, NextStep="x"),
                         {"object": "Lead", "op": "update", "record_id": ld.record_id,
                          "actor": "ai:lead-intake-1", "fields": {"Rating": "Warm"}},
                         hygiene(o2.record_id, NextStep="y")])
    assert all(o is not None for o in outs)
    failed = [o for o in outs if o.status == "failed"]
    assert failed and {o.object for o in failed} != {"Opportunity", "Lead"}
    assert all(o.reason == "the before-image could not be read" and o.error["code"] == "UNAVAILABLE"
               and o.change_id is None for o in failed)
    assert {o.status for o in outs if o not in failed} == {"applied"}


def test_a_decided_entry_says_applying_only_for_a_write(gate):
    """The decision entry of a change about to be written says ``applying`` (its result follows);
    one that writes nothing says its final status (queued, rejected)."""
    o = gate.propose(opp())[0]
    outs = gate.propose([hygiene(o.record_id, NextStep="x"),
                         hygiene(o.record_id, ForecastCategoryName="Commit"),
                         {**lead(), "fields": {"LastName": "Ng", "Company": ""}}])
    assert [x.status for x in outs] == ["applied", "queued", "rejected"]
    decided = [gate.store.entries_for(proposal_id=x.proposal_id)[0] for x in outs]
    assert [(e.kind, e.data["status"]) for e in decided] == [
        ("proposal.decided", "applying"), ("proposal.decided", "queued"), ("proposal.decided", "rejected")]


def test_a_key_taken_mid_flight_by_another_actor_keeps_its_owners_outcome(sandbox, racing_gates):
    """Worker B (another actor) uses a key while worker A is between its lookup and its trail
    append: A is refused (and the rest of A's batch still runs), and that refusal is NOT stored
    under the key, so B's repeat still replays B's own applied outcome."""
    mine = {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1", "idempotency_key": "k-1",
            "fields": {"LastName": "Ng", "Company": "Initech"}}
    theirs = {**mine, "actor": "ai:lead-intake-2"}
    gate_a, gate_b, seen = racing_gates(theirs)
    a, other = gate_a.propose([mine, {**mine, "idempotency_key": None, "fields": {"LastName": "Oh", "Company": "Acme"}}])
    assert other.status == "applied"  # the refusal does not stop the rest of the round
    b = seen[0]
    assert b.status == "applied"
    assert (a.status, a.error["code"], a.record_id) == ("failed", "idempotency_key_in_use", None)
    again = gate_b.propose(theirs)[0]
    assert (again.status, again.replayed, again.record_id) == ("applied", True, b.record_id)
    assert len([c for c in sandbox.calls if c[0] == "create_many"]) == 2  # B's, and A's other lead


def test_intent_provenance_and_empty_result_info(gate):
    """A write's intent records where each field's value came from (``provenance``); its result
    records ``info`` as null when the CRM gave nothing extra, not as an empty object."""
    out = gate.propose(lead())[0]
    _, intent, result = gate.store.entries_for(change_id=out.change_id)
    assert intent.kind == "write.intent" and intent.data["provenance"]["LastName"] == {"source": "proposal"}
    assert result.kind == "write.result" and result.data["info"] is None


def test_an_adapter_bug_is_recorded_unknown_not_failed(make_gate, tmp_path, clock):
    """An adapter raising something outside the CRMError tree may have written: its result entry
    says ``unknown`` with an ambiguous ``unknown_outcome`` error, never ``failed``."""
    import pytest

    from tests.connector.test_pipeline import ExplodingSandbox

    gate = make_gate(ExplodingSandbox(tmp_path / "x.db", clock=clock))
    o = gate.propose(opp())[0]
    with pytest.raises(ZeroDivisionError):
        gate.propose(hygiene(o.record_id, NextStep="x"))
    last = gate.store.read(1, 100)[-1]
    assert (last.kind, last.data["status"]) == ("write.result", "unknown")
    assert last.data["error"]["code"] == "unknown_outcome" and last.data["error"]["ambiguous"] is True


def test_a_delete_is_conditional_on_the_version_read(make_gate, tmp_path, clock):
    """A delete carries the before-image's version: a record a person edited after crmgate read it
    is not deleted (conflict)."""
    from crmgate.adapters.sandbox.adapter import SandboxAdapter
    from crmgate.project.scaffold import example_rulebook
    from crmgate.rules.loader import parse_rulebook

    class EditBeforeDelete(SandboxAdapter):
        def delete_many(self, object, requests):
            for r in requests:
                self.edit(object, r.id, {"NextStep": "kept by the rep"}, actor="person:rep")
            return super().delete_many(object, requests)

    crm = EditBeforeDelete(tmp_path / "del.db", clock=clock)
    rules = parse_rulebook(example_rulebook().replace("{op: delete, tier: critical}", "{op: delete, tier: low}"))
    gate = make_gate(crm, rules=rules)
    o = gate.propose(opp())[0]
    out = gate.propose({"object": "Opportunity", "op": "delete", "record_id": o.record_id,
                        "actor": "ai:deal-hygiene", "confidence": 0.99})[0]
    assert out.status == "conflict"
    assert crm.get_many("Opportunity", [o.record_id])[o.record_id].fields["NextStep"] == "kept by the rep"
    intent = gate.store.entries_for(change_id=out.change_id)[1]
    assert intent.kind == "write.intent" and intent.data["fields"] == {}  # a delete sends no fields


def test_write_reasons_say_what_happened(gate, sandbox):
    """An applied write's reason is ``written: <the decision's reason>``; a refused one's is
    ``not written: <the CRM's message>``."""
    outs = gate.propose([lead(LastName=f"L{i}") for i in range(2)])
    assert all(o.reason.startswith("written: ") for o in outs)
    sandbox.inject_fault("update_many", code="FIELD_CUSTOM_VALIDATION_EXCEPTION", record_id=outs[1].record_id,
                         status=400, message="Rating is locked")
    ok, bad = gate.propose([{**lead(), "op": "update", "record_id": o.record_id, "fields": {"Rating": "Warm"}}
                            for o in outs])
    assert ok.reason == "written: " + gate.store.entries_for(proposal_id=ok.proposal_id)[0].data["decision"]["reason"]
    assert (bad.status, bad.error["message"]) == ("failed", "Rating is locked")
    assert bad.reason == "not written: Rating is locked"


def test_no_enrichment_call_for_a_record_that_could_not_be_read(make_gate, sandbox):
    """A proposal whose before-image read failed is failed without asking the enrichment provider."""
    from crmgate.rules.loader import parse_rulebook
    from tests.routing.conftest import routing_text

    text = routing_text().replace("    provider: firmographics", "    'on': [create, update]\n    provider: firmographics")
    gate = make_gate(sandbox, rules=parse_rulebook(text))
    calls: list = []
    gate.providers.register("firmographics", lambda obj, rec: calls.append(obj) or {"Country": "US"})
    made = gate.propose({"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
                         "fields": {"LastName": "Ng", "Company": "Initech"}})[0]
    assert made.status == "applied"
    sandbox.inject_fault("get_many", code="UNAVAILABLE", whole_call=True, status=503)
    before = len(calls)
    out = gate.propose({"object": "Lead", "op": "update", "record_id": made.record_id,
                        "actor": "ai:lead-intake-1", "fields": {"Company": "Initech AG"}})[0]
    assert out.status == "failed" and len(calls) == before
    sandbox.clear_faults()
    assert gate.propose({"object": "Lead", "op": "update", "record_id": made.record_id,  # the provider is asked
                         "actor": "ai:lead-intake-1", "fields": {"Company": "Initech AG"}})[0].status == "applied"
    assert len(calls) == before + 1


def test_an_unknown_outcome_quotes_the_crm_error(gate, sandbox):
    """An unknown outcome's reason quotes the error the call ended with."""
    sandbox.inject_fault("create_many", code="connection_error", whole_call=True, after_write=True,
                         message="reset by peer")
    [out] = gate.propose(lead())
    assert out.status == "unknown"
    assert out.reason.startswith("outcome unknown: reset by peer; the write may have been applied")


def test_a_batch_whose_keys_are_all_settled_reconciles_nothing(gate):
    """Repeating a batch whose keys all have final outcomes replays them with one read: the
    recovery of open keys (a reconcile and its reads) runs only when a stored outcome is open."""
    batch = [{**lead(LastName=f"S{i}"), "idempotency_key": f"s-{i}"} for i in range(3)]
    first = gate.propose(batch)
    checkouts: list[int] = []
    sa.event.listen(gate.store.engine, "checkout", lambda *a: checkouts.append(1))
    again = gate.propose(batch)
    assert [a.replayed for a in again] == [True] * 3 and [a.status for a in again] == [o.status for o in first]
    assert len(checkouts) == 1


def test_an_outcome_that_writes_nothing_gives_the_decisions_reason(gate):
    """A queued or rejected outcome's reason is the deciding rule's reason, as the trail records it."""
    o = gate.propose(opp())[0]
    outs = gate.propose([hygiene(o.record_id, ForecastCategoryName="Commit"),
                         {**lead(), "fields": {"LastName": "Ng", "Company": ""}}])
    assert [x.status for x in outs] == ["queued", "rejected"]
    for x in outs:
        decided = gate.store.entries_for(proposal_id=x.proposal_id)[0]
        assert x.reason and x.reason == decided.data["decision"]["reason"]


def test_only_the_intent_append_waits_for_the_disk(gate):
    """A write's decision and intent are flushed to disk before the CRM call; its result append is
    not (``durable=False``: a lost result is an intent without a result, which reconcile settles).
    A decision that writes nothing (here a rejection) is one durable append."""
    stats = gate.store.lock_stats
    before = (stats.appends, stats.flushes)
    made = gate.propose(lead())[0]
    assert made.status == "applied"
    assert (stats.appends - before[0], stats.flushes - before[1]) == (2, 1)
    kinds = [e.kind for e in gate.store.read(1, 1000) if e.proposal_id == made.proposal_id]
    assert kinds == ["proposal.decided", "write.intent", "write.result"]  # committed all the same
    before = (stats.appends, stats.flushes)
    refused = gate.propose(lead(AnnualRevenue=50_000_000))[0]
    assert refused.status == "rejected"
    assert (stats.appends - before[0], stats.flushes - before[1]) == (1, 1)
