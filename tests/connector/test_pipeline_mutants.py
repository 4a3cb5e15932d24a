"""The write path's bookkeeping, pinned where the mutation campaign found the other tests silent
(docs/mutation.md): rounds, per-proposal failures inside a round, result entries, reasons."""
from __future__ import annotations

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
