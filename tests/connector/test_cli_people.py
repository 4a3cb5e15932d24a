"""A CLI for people and for scripts: tables on a terminal, JSON when piped; pending approvals by
default; records list; violations with their fix; reasons that say "empty"; rollback messages that
say what happened; a report with a legend and CSV."""
from __future__ import annotations

import csv
import io
import json
import sys

from crmgate.doors.cli.output import wants_table
from tests.connector.conftest import hygiene, opp


def propose(run, *proposals, output: str = "json"):
    out = run("propose", "-", "--output", output, input="\n".join(json.dumps(p) for p in proposals)).stdout
    return out if output == "table" else [json.loads(line) for line in out.splitlines()]


def test_table_on_a_terminal_json_when_piped(monkeypatch):
    """With no --output, a terminal gets a table and a pipe gets JSON; --output wins either way."""
    class Tty:
        def isatty(self) -> bool:
            return True
    assert wants_table(None) is False  # pytest captures stdout: a pipe
    monkeypatch.setattr(sys, "stdout", Tty())
    assert wants_table(None) is True and wants_table("json") is False


def test_approvals_list_shows_pending_changes_as_a_table(run):
    """approvals list shows only pending changes by default: a readable table, or JSON when piped;
    --status all shows every status."""
    [deal] = propose(run, opp())
    a, b = propose(run, hygiene(deal["record_id"], ForecastCategoryName="Commit"),
                   hygiene(deal["record_id"], NextStep="Call", confidence=0.5))
    run("approvals", "reject", b["change_id"], "--by", "admin:ana", "--reason", "no")
    text = run("approvals", "list", "--output", "table").stdout
    assert "approval queue (pending)" in text and a["change_id"] in text and b["change_id"] not in text
    assert "ForecastCategoryName" in text and "empty →" in text and "1 pending change" in text
    assert [q["change_id"] for q in json.loads(run("approvals", "list").stdout)] == [a["change_id"]]
    assert {q["status"] for q in json.loads(run("approvals", "list", "--status", "all").stdout)} == \
        {"pending", "rejected"}


def test_violations_carry_their_fix_and_reasons_say_empty(run):
    """A rejected proposal's violations carry a fix in JSON and in the table; a risk reason says
    "from empty", never "from None"."""
    [deal] = propose(run, opp())
    [bad] = propose(run, hygiene(deal["record_id"], StageName="Negotiation"))
    assert bad["status"] == "rejected" and all(v["fix"] for v in bad["violations"])
    assert any(v["fix"].startswith("Set Amount") for v in bad["violations"])
    table = propose(run, hygiene(deal["record_id"], StageName="Negotiation"), output="table")
    assert "fix: Set NextStep" in table
    [big] = propose(run, hygiene(deal["record_id"], Amount=1000))
    assert "Amount changed from empty to 1000" in big["reason"] and "None" not in big["reason"]


def test_records_list_on_the_sandbox(run):
    """records list OBJECT filters with --where, stops at --limit, prints JSON piped, a table on request."""
    propose(run, opp(Name="Zeta deal"), opp(Name="Zeta deal"))
    got = json.loads(run("records", "list", "Opportunity", "--where", "Name=Zeta deal").stdout)
    assert len(got) == 2 and {r["fields"]["Name"] for r in got} == {"Zeta deal"}
    assert len(json.loads(run("records", "list", "Opportunity", "--limit", "1").stdout)) == 1
    assert json.loads(run("records", "list", "Opportunity", "--where", "Name=nobody").stdout) == []
    text = run("records", "list", "Opportunity", "--where", "Name=Zeta deal", "--output", "table").stdout
    assert "Opportunity records" in text and "2 shown" in text


def test_rollback_messages_say_exactly_what_happened(run):
    """Dry runs say "would" and "nothing written"; a change whose only field conflicted says it was
    kept; the other change of the same record says it was reverted; a create's rollback deletes the
    record (its dry run says so, not a list of field reverts)."""
    [deal] = propose(run, opp())
    rid = deal["record_id"]
    step, close = propose(run, hygiene(rid, NextStep="AI plan"), hygiene(rid, CloseDate="2027-03-31"))
    run("sandbox", "edit", "Opportunity", rid, "NextStep=rep plan")
    dry = json.loads(run("rollback", "--actor", "ai:deal-hygiene", "--dry-run", "--json").stdout)
    said = {c["change_id"]: c["message"] for c in dry["changes"]}
    assert said[close["change_id"]].startswith("dry run, nothing written: would revert CloseDate")
    assert said[step["change_id"]].startswith("nothing written: kept NextStep because it changed")
    assert all("written back" not in m for m in said.values())
    done = json.loads(run("rollback", "--actor", "ai:deal-hygiene").stdout)
    said = {c["change_id"]: (c["status"], c["message"]) for c in done["changes"]}
    assert said[close["change_id"]] == ("reverted", "reverted CloseDate to the value before the change")
    assert said[step["change_id"]][0] == "conflict" and "kept NextStep" in said[step["change_id"]][1]

    plan = json.loads(run("rollback", "--change", deal["change_id"], "--dry-run", "--json").stdout)
    assert plan["changes"][0]["message"] == "dry run, nothing written: would delete the created record"
    table = run("rollback", "--change", deal["change_id"], "--dry-run").stdout
    assert "delete the record" in table and "revert" not in table
    gone = json.loads(run("rollback", "--change", deal["change_id"]).stdout)
    assert (gone["status"], gone["message"]) == ("reverted", "record deleted")


def test_report_table_with_a_legend_and_csv(run):
    """report --output table has a table per grouping and a legend; --csv is one row per group."""
    [deal] = propose(run, opp())
    propose(run, hygiene(deal["record_id"], NextStep="Call"))
    text = run("report", "--output", "table").stdout
    assert "by use case" in text and "by actor" in text and "legend" in text and "accept %" in text
    assert "(applied + approved) / everything decided" in text
    rows = list(csv.DictReader(io.StringIO(run("report", "--csv").stdout)))
    hygiene_row = next(r for r in rows if r["group"] == "use case" and r["name"] == "deal_hygiene")
    assert hygiene_row["applied"] == "1" and hygiene_row["acceptance"] == "1.0"
    assert json.loads(run("report").stdout)["totals"]["proposals"] == 2  # piped: JSON


def test_an_approval_refused_for_its_edit_carries_the_fix(run):
    """approvals approve --set with a value the rules refuse: exit 2, the violation with its fix."""
    [deal] = propose(run, opp())
    [q] = propose(run, hygiene(deal["record_id"], ForecastCategoryName="Commit"))
    r = run("approvals", "approve", q["change_id"], "--by", "admin:ana", "--set", "ForecastCategoryName=Maybe",
            code=2)
    [violation] = json.loads(r.stderr)["error"]["details"]["violations"]
    assert violation["code"] == "invalid_picklist_value" and violation["fix"].startswith("Send ForecastCategoryName")
