"""Exports that tell the whole story: --actor (and the other change filters) select CHANGES, and the
export holds every entry of their lifecycle, whoever made it; the CSV status is each change's final
status; it verifies offline (issue 15)."""
from __future__ import annotations

import csv
import json

from tests.connector.conftest import hygiene, opp, run  # noqa: F401 - run is a fixture


def propose(run, *proposals):  # noqa: F811
    out = run("propose", "-", input="\n".join(json.dumps(p) for p in proposals)).stdout
    return [json.loads(line) for line in out.splitlines()]


def story(run):  # noqa: F811
    """ai:deal-hygiene's changes: one approved with an edit, one applied then rolled back, one
    rejected by a person, one with feedback; plus another agent's deal."""
    [deal] = propose(run, opp())
    rid = deal["record_id"]
    fc, step, low = propose(run, hygiene(rid, ForecastCategoryName="Commit"), hygiene(rid, NextStep="Call"),
                            hygiene(rid, CloseDate="2027-02-26", confidence=0.4))
    run("approvals", "approve", fc["change_id"], "--by", "admin:ana", "--set", "ForecastCategoryName=Best Case")
    run("rollback", "--change", step["change_id"], "--by", "admin:bo")
    run("approvals", "reject", low["change_id"], "--by", "admin:ana", "--reason", "too early")
    run("feedback", fc["change_id"], "--correct", "--by", "admin:ana")
    return deal, fc, step, low


def test_actor_export_holds_the_people_and_verifies_offline(run, tmp_path):  # noqa: F811
    """trail export --actor ai:deal-hygiene holds that agent's changes with their approvals, the
    approver's edit, the rejection, the rollback and the feedback, none of the other agent's
    entries, says in the manifest how it selected, and verifies offline with only the public key."""
    deal, fc, step, low = story(run)
    out = tmp_path / "hygiene.jsonl"
    manifest = json.loads(run("trail", "export", "--actor", "ai:deal-hygiene", "--out", str(out)).stdout)
    entries = [json.loads(line) for line in out.read_text().splitlines()]
    by_change = {}
    for e in entries:
        by_change.setdefault(e["change_id"], []).append((e["kind"], e["actor"]))
    assert ("approval.approved", "admin:ana") in by_change[fc["change_id"]]
    approved = next(e for e in entries if e["kind"] == "approval.approved")
    assert approved["data"]["edits"] == {"ForecastCategoryName": {"proposed": "Commit", "approved": "Best Case"}}
    assert ("feedback.recorded", "admin:ana") in by_change[fc["change_id"]]
    assert ("approval.rejected", "admin:ana") in by_change[low["change_id"]]
    rollbacks = [e for e in entries if e["kind"].startswith("rollback.")]
    assert {(e["kind"], e["actor"], e["data"]["reverts"]) for e in rollbacks} == {
        ("rollback.intent", "admin:bo", step["change_id"]), ("rollback.result", "admin:bo", step["change_id"])}
    assert deal["change_id"] not in by_change and all(e["actor"] != "ai:deal-intake" for e in entries)
    assert manifest["selection"]["by"] == "changes" and manifest["selection"]["changes"] == 3
    assert "actor = ai:deal-hygiene" in manifest["selection"]["how"]

    elsewhere = tmp_path / "auditor"  # an auditor's folder: no config, no database
    elsewhere.mkdir()
    for f in (out, out.with_name(out.name + ".manifest.json"), out.with_name(out.name + ".chain"),
              run.project / "trail.pub"):
        (elsewhere / f.name).write_bytes(f.read_bytes())
    report = json.loads(run("trail", "verify", "--export", str(elsewhere / out.name),
                            "--public-key", str(elsewhere / "trail.pub")).stdout)
    assert report["ok"] is True and report["entries"] == len(entries)


def test_csv_status_is_each_changes_final_status(run, tmp_path):  # noqa: F811
    """In the CSV, every row of a change carries its final status (the approved one applied, the
    rolled-back one rolled_back, the rejected one rejected); step keeps the entry's own status."""
    _deal, fc, step, low = story(run)
    out = tmp_path / "hygiene.csv"
    run("trail", "export", "--format", "csv", "--actor", "ai:deal-hygiene", "--out", str(out))
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    status = {}
    for r in rows:
        status.setdefault(r["change_id"], set()).add(r["status"])
    assert status[fc["change_id"]] == {"applied"} and status[step["change_id"]] == {"rolled_back"}
    assert status[low["change_id"]] == {"rejected"}
    decided = next(r for r in rows if r["change_id"] == fc["change_id"] and r["kind"] == "proposal.decided")
    assert decided["step"] == "queued"
    assert json.loads(run("trail", "verify", "--export", str(out)).stdout)["ok"] is True
    rows[1]["status"] = "applied" if rows[1]["status"] != "applied" else "failed"  # an edited status is caught
    with out.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert json.loads(run("trail", "verify", "--export", str(out), code=1).stdout)["ok"] is False
