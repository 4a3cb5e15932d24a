"""Approvals that survive busy records, through the CLI on the sandbox (issue 15's done-when)."""
from __future__ import annotations

import json

from tests.connector.conftest import hygiene, opp


def propose(run, *proposals):
    out = run("propose", "-",
              input="\n".join(json.dumps(p) for p in proposals)).stdout
    return [json.loads(line) for line in out.splitlines()]


def record(run, rid):
    return json.loads(run("records", "get", "Opportunity", rid).stdout)["fields"]


def test_a_queued_change_survives_other_edits_goes_stale_on_its_own_field_and_requeues(run):
    """A queued ForecastCategoryName change approves and writes after the agent changed NextStep;
    a second one is stale with the three values after ForecastCategoryName itself changed; requeue
    gives a new pending change that approves cleanly; the trail verifies."""
    [deal] = propose(run, opp())
    rid = deal["record_id"]
    [first] = propose(run, hygiene(rid, ForecastCategoryName="Commit"))
    assert first["status"] == "queued"
    [step] = propose(run, hygiene(rid, NextStep="Send the order form", CloseDate="2027-02-12"))
    assert step["status"] == "applied"
    done = json.loads(run("approvals", "approve", first["change_id"], "--by", "admin:ana").stdout)
    assert done["status"] == "applied" and done["recheck"]["passed"] == ["record", "fields", "rules"]
    assert record(run, rid)["ForecastCategoryName"] == "Commit"
    assert record(run, rid)["NextStep"] == "Send the order form"

    [second] = propose(run, hygiene(rid, ForecastCategoryName="Best Case"))
    run("sandbox", "edit", "Opportunity", rid, "ForecastCategoryName=Pipeline")
    stale = json.loads(run("approvals", "approve", second["change_id"], "--by", "admin:ana").stdout)
    assert stale["status"] == "stale" and stale["recheck"]["check"] == "fields"
    assert stale["recheck"]["fields"] == [{"field": "ForecastCategoryName", "queued": "Commit",
                                           "now": "Pipeline", "proposed": "Best Case", "changed": True}]
    assert record(run, rid)["ForecastCategoryName"] == "Pipeline"
    shown = json.loads(run("approvals", "show", second["change_id"]).stdout)
    assert shown["status"] == "stale" and shown["stale"]["fields"][0]["now"] == "Pipeline"
    table = run("approvals", "show", second["change_id"], "--output", "table").stdout
    assert "approval.stale" in table and "at queueing" in table and "Pipeline" in table and "Best Case" in table

    new = json.loads(run("approvals", "requeue", second["change_id"], "--by", "admin:ana").stdout)
    assert new["status"] == "pending" and new["requeued_from"] == second["change_id"]
    assert new["changes"] == [{"field": "ForecastCategoryName", "before": "Pipeline", "after": "Best Case"}]
    pending = json.loads(run("approvals", "list").stdout)
    assert [q["change_id"] for q in pending] == [new["change_id"]]
    again = json.loads(run("approvals", "approve", new["change_id"], "--by", "admin:bo").stdout)
    assert again["status"] == "applied" and record(run, rid)["ForecastCategoryName"] == "Best Case"
    assert f"requeued as: {new['change_id']}" in run("approvals", "show", second["change_id"], "--output",
                                                     "table").stdout
    assert json.loads(run("trail", "verify").stdout)["ok"] is True


def test_requeue_refusals_are_json_with_exit_2(run):
    """Requeueing a pending change is refused (exit 2, one JSON error) and writes nothing."""
    [deal] = propose(run, opp())
    [q] = propose(run, hygiene(deal["record_id"], ForecastCategoryName="Commit"))
    result = run("approvals", "requeue", q["change_id"], "--by", "admin:ana", code=2)
    assert json.loads(result.stderr)["error"]["code"] == "not_stale"
