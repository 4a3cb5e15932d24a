"""Rollback at scale: --batch, --actor with a window, --use-case; combined per-record undo."""
from __future__ import annotations

import json

import pytest

from crmgate.errors import RollbackError
from crmgate.project.scaffold import example_rulebook
from crmgate.rules.loader import parse_rulebook
from tests.connector.conftest import hygiene, opp

T0 = "2026-11-22T09:00:00Z"


def fields(sandbox, rid):
    return sandbox.get_many("Opportunity", [rid])[rid].fields


def writes(sandbox):
    return [c for c in sandbox.calls if c[0] != "get_many"]


@pytest.fixture
def deals(gate):
    return [o.record_id for o in gate.propose([opp(Name=f"Deal {i}") for i in range(3)])]


def test_actor_window_undoes_only_that_actor_in_the_window(gate, sandbox, clock, deals):
    """--actor --since undoes the actor's changes from T on, not earlier ones, not other actors'."""
    early = gate.propose(hygiene(deals[0], NextStep="early"))[0]
    clock.advance(3600)
    since = "2026-11-22T10:00:00Z"
    late = gate.propose([hygiene(d, CloseDate="2027-06-30") for d in deals])
    other = gate.propose(opp(Name="Not hygiene"))[0]
    report = gate.rollback_many(actor="ai:deal-hygiene", since=since, by="admin:ana")
    assert report.summary["reverted"] == 3 and {r.change_id for r in report.changes} == {c.change_id for c in late}
    assert all(fields(sandbox, d)["CloseDate"] == "2027-01-29" for d in deals)
    assert fields(sandbox, deals[0])["NextStep"] == "early" and fields(sandbox, other.record_id)
    assert early.change_id not in {r.change_id for r in report.changes}


def test_person_edit_is_kept_and_repeat_is_a_noop(gate, sandbox, clock, deals):
    """A field a person edited since is a conflict and keeps the person's value; the other fields are
    reverted; running the same rollback again writes nothing to the CRM or the trail."""
    changes = gate.propose([hygiene(d, NextStep="AI plan", CloseDate="2027-06-30") for d in deals])
    sandbox.edit("Opportunity", deals[1], {"NextStep": "rep plan"})
    report = gate.rollback_many(actor="ai:deal-hygiene", since=T0)
    s = report.summary
    assert (s["reverted"], s["partial"], s["conflict_fields"]) == (2, 1, 1)
    assert fields(sandbox, deals[1])["NextStep"] == "rep plan"
    assert fields(sandbox, deals[1])["CloseDate"] == "2027-01-29"
    partial = next(r for r in report.changes if r.status == "partial")
    assert partial.change_id == changes[1].change_id and [f.field for f in partial.conflicts] == ["NextStep"]

    sandbox.calls.clear()
    head = gate.store.head()
    again = gate.rollback_many(actor="ai:deal-hygiene", since=T0)
    assert writes(sandbox) == [] and gate.store.head() == head
    assert again.summary["reverted"] == again.summary["partial"] == 0
    assert again.summary["skipped"] == 2 and again.summary["conflicts"] == 1


def test_same_call_count_as_the_forward_writes(gate, sandbox, deals):
    """A batch of updates over max_batch is undone with as many get_many and update_many calls as
    it was written with."""
    sandbox.max_batch = 2
    sandbox.calls.clear()
    batch = gate.propose([hygiene(d, NextStep="AI plan") for d in deals])
    forward = sorted(sandbox.calls)
    sandbox.calls.clear()
    report = gate.rollback_many(batch=batch[0].batch_id)
    assert report.summary["reverted"] == 3
    assert sorted(sandbox.calls) == forward == [("get_many", "Opportunity", 1), ("get_many", "Opportunity", 2),
                                                ("update_many", "Opportunity", 1), ("update_many", "Opportunity", 2)]
    assert report.calls == {"get_many": 1, "update_many": 2}  # the adapter split the read in two


def test_several_changes_to_one_field_return_to_the_first_before(gate, sandbox, clock, deals):
    """Three changes to one field undo to the value before the first; each change gets its own
    linked rollback entries, and one CRM write covers the record."""
    rid = deals[0]
    chs = [gate.propose(hygiene(rid, NextStep=f"step {i}"))[0] for i in range(3)]
    sandbox.calls.clear()
    report = gate.rollback_many(actor="ai:deal-hygiene")
    assert [r.change_id for r in report.changes] == [c.change_id for c in reversed(chs)]  # newest first
    assert fields(sandbox, rid).get("NextStep") is None
    assert writes(sandbox) == [("update_many", "Opportunity", 1)]
    intents = [e for e in gate.store.query(kinds=["rollback.intent"])]
    assert sorted(e.data["reverts"] for e in intents) == sorted(c.change_id for c in chs)
    assert {e.data["record_write"] for e in intents} == {intents[0].data["record_write"]}
    assert all(e.proposal_id == c.proposal_id for e, c in zip(intents, chs))


def test_someone_elses_write_between_changes_survives(gate, sandbox, deals):
    """If a person set the field between two of the actor's changes, the rollback restores the
    person's value (not the value before the first change) and reports the earlier change as a conflict."""
    rid = deals[0]
    first = gate.propose(hygiene(rid, NextStep="AI 1"))[0]
    sandbox.edit("Opportunity", rid, {"NextStep": "rep"})
    second = gate.propose(hygiene(rid, NextStep="AI 2"))[0]
    report = gate.rollback_many(actor="ai:deal-hygiene")
    assert fields(sandbox, rid)["NextStep"] == "rep"
    by_id = {r.change_id: r for r in report.changes}
    assert by_id[second.change_id].status == "reverted" and by_id[first.change_id].status == "conflict"


def test_force_takes_the_conflicts_a_bulk_rollback_left(gate, sandbox, deals):
    """After a partial rollback, --force still overwrites the conflicting field, and says so."""
    gate.propose([hygiene(d, NextStep="AI plan", CloseDate="2027-06-30") for d in deals[:1]])
    sandbox.edit("Opportunity", deals[0], {"NextStep": "rep plan"})
    assert gate.rollback_many(actor="ai:deal-hygiene").summary["partial"] == 1
    forced = gate.rollback_many(actor="ai:deal-hygiene", force=True)
    [r] = forced.changes
    assert r.status == "reverted" and [f.action for f in r.fields] == ["force"]
    assert fields(sandbox, deals[0]).get("NextStep") is None
    intent = gate.store.entries_for(change_id=r.rollback_change_id)[0]
    assert intent.data["force"] is True


def test_batch_includes_approved_changes_and_use_case_selects(gate, sandbox, deals):
    """--batch covers the batch's changes a person approved later; --use-case selects by use case."""
    applied, queued = gate.propose([hygiene(deals[0], NextStep="AI plan"),
                                    hygiene(deals[1], ForecastCategoryName="Commit")])
    gate.approve(queued.change_id, by="admin:ana")
    report = gate.rollback_many(batch=applied.batch_id)
    assert {r.change_id for r in report.changes} == {applied.change_id, queued.change_id}
    assert fields(sandbox, deals[1]).get("ForecastCategoryName") is None
    gate.propose(hygiene(deals[2], NextStep="again"))
    by_uc = gate.rollback_many(use_case="deal_hygiene")
    assert by_uc.summary["reverted"] == 1 and fields(sandbox, deals[2]).get("NextStep") is None


def test_rollbacks_are_never_selected_but_can_be_undone_by_id(gate, sandbox, deals):
    """--actor selects governed writes only (an admin's rollbacks are not re-undone); a rollback can
    itself be undone with --change, and after that the change can be rolled back again."""
    ch = gate.propose(hygiene(deals[0], NextStep="AI plan"))[0]
    first = gate.rollback_many(actor="ai:deal-hygiene", by="admin:ana").changes[0]
    assert gate.rollback_many(actor="admin:ana").changes == ()
    undo = gate.rollback(first.rollback_change_id, by="admin:ana")
    assert undo.status == "reverted" and fields(sandbox, deals[0])["NextStep"] == "AI plan"
    assert gate.rollback(ch.change_id).status == "reverted"
    assert fields(sandbox, deals[0]).get("NextStep") is None


def test_create_then_update_deletes_and_update_then_delete_recreates(make_gate, sandbox):
    """A record the selection created is deleted; one it deleted is re-created with the values from
    before the selection's first change."""
    text = example_rulebook().replace("- {op: delete, tier: critical}", "- {op: delete, tier: low}").replace(
        'actors: ["ai:deal-intake"]', 'actors: ["ai:deal-intake", "ai:deal-hygiene"]')
    gate = make_gate(sandbox, rules=parse_rulebook(text))
    made = gate.propose({**opp(), "actor": "ai:deal-hygiene", "use_case": "deal_intake"})[0]
    gate.propose(hygiene(made.record_id, NextStep="x"))
    kept = gate.propose(opp(NextStep="original"))[0].record_id
    gate.propose(hygiene(kept, NextStep="AI"))
    gone = gate.propose({"object": "Opportunity", "op": "delete", "record_id": kept,
                         "actor": "ai:deal-hygiene", "confidence": 0.99})[0]
    assert gone.status == "applied"
    report = gate.rollback_many(actor="ai:deal-hygiene")
    assert sandbox.get_many("Opportunity", [made.record_id]) == {}
    recreated = next(r for r in report.changes if r.change_id == gone.change_id).new_record_id
    assert fields(sandbox, recreated)["NextStep"] == "original"
    sandbox.calls.clear()
    assert gate.rollback_many(actor="ai:deal-hygiene").summary["skipped"] == 4 and writes(sandbox) == []


@pytest.mark.parametrize("kwargs, code", [
    ({}, "bad_selector"),
    ({"actor": "a", "batch": "b"}, "bad_selector"),
    ({"batch": "b", "since": T0}, "bad_selector"),
    ({"actor": "a", "since": "yesterday"}, "invalid_time"),
    ({"actor": "a", "since": "2026-11-23", "until": "2026-11-22"}, "bad_selector"),
])
def test_bad_selectors_are_refused(gate, kwargs, code):
    """Exactly one selector, a window only with actor or use case, and real ISO times."""
    with pytest.raises(RollbackError) as exc:
        gate.rollback_many(**kwargs)
    assert exc.value.code == code


def test_dry_run_and_until_is_exclusive(gate, sandbox, clock, deals):
    """A dry run plans without writing; --until excludes changes at or after it."""
    gate.propose(hygiene(deals[0], NextStep="in"))
    clock.advance(60)
    gate.propose(hygiene(deals[1], NextStep="out"))
    head = gate.store.head()
    plan = gate.rollback_many(actor="ai:deal-hygiene", until="2026-11-22T09:01:00Z", dry_run=True)
    assert [r.status for r in plan.changes] == ["planned"] and plan.changes[0].record_id == deals[0]
    assert gate.store.head() == head and fields(sandbox, deals[0])["NextStep"] == "in"


# -- through the CLI -------------------------------------------------------------------------------



def test_done_when_through_the_cli(run):
    """rollback --actor ai:deal-hygiene --since T undoes the actor's changes in the window, reports
    the person's edit as a conflict and keeps it, prints a plan for a dry run, and is a no-op repeated."""
    out = run("propose", "-", input="\n".join(json.dumps(opp(Name=f"D{i}")) for i in range(2))).stdout
    rids = [json.loads(line)["record_id"] for line in out.splitlines()]
    since = json.loads(run("trail", "show", "--limit", "1").stdout)["ts"]
    run("propose", "-", input="\n".join(json.dumps(hygiene(r, NextStep="AI", CloseDate="2027-06-30"))
                                        for r in rids))
    run("sandbox", "edit", "Opportunity", rids[0], "NextStep=rep plan", "--as", "person:rep")

    table = run("rollback", "--actor", "ai:deal-hygiene", "--since", since, "--dry-run").stdout
    assert "conflict" in table and "rep plan" in table and "nothing written" in table
    plan = json.loads(run("rollback", "--actor", "ai:deal-hygiene", "--since", since, "--dry-run", "--json").stdout)
    assert plan["summary"]["planned"] == 2 and plan["dry_run"] is True

    done = json.loads(run("rollback", "--actor", "ai:deal-hygiene", "--since", since, "--by", "admin:ana").stdout)
    assert done["summary"]["reverted"] == 1 and done["summary"]["partial"] == 1
    assert done["summary"]["conflict_fields"] == 1
    got = [json.loads(run("records", "get", "Opportunity", r).stdout)["fields"] for r in rids]
    assert got[0]["NextStep"] == "rep plan" and got[0]["CloseDate"] == got[1]["CloseDate"] == "2027-01-29"
    assert got[1].get("NextStep") is None

    again = json.loads(run("rollback", "--actor", "ai:deal-hygiene", "--since", since).stdout)
    assert again["batch_id"] is None and again["summary"]["reverted"] == again["summary"]["partial"] == 0
    r = run("rollback", "--actor", "ai:deal-hygiene", "--change", "chg_x", code=2)
    assert json.loads(r.stderr)["error"]["code"] == "bad_selector"
    assert json.loads(run("trail", "verify").stdout)["ok"] is True


def test_progress_bar_only_on_a_terminal(monkeypatch):
    """The progress bar draws on stderr when it is a terminal and stays silent otherwise."""
    import io
    import sys

    from crmgate.doors.cli.rollback_cmds import _progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    with _progress() as update:
        update(2, 4)
        update(4, 4)
    assert "rolling back" in tty.getvalue()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with _progress() as update:
        assert update is None
