"""Exports that tell the whole story: --actor (and the other change filters) select CHANGES, and the
export holds every entry of their lifecycle, whoever made it; the CSV status is the change's status
after each entry; it verifies offline (issues 15 and 16)."""
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


def test_csv_status_is_the_changes_status_after_each_entry(run, tmp_path):  # noqa: F811
    """In the CSV (format 3), each row's status is its change's status after that entry, read from
    the entry alone (no map of changes kept): the approved change goes queued, approving,
    unresolved, applied (feedback has none); the applied one is reverted by its rollback's rows
    (same proposal); the rejected one ends rejected. The last row of a change is where it stands."""
    _deal, fc, step, low = story(run)
    out = tmp_path / "hygiene.csv"
    run("trail", "export", "--format", "csv", "--actor", "ai:deal-hygiene", "--out", str(out))
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    story_of: dict[str, dict[int, tuple[str, str]]] = {}
    for r in rows:
        story_of.setdefault(r["proposal_id"], {})[int(r["seq"])] = (r["kind"], r["status"])
    assert list(story_of[fc["proposal_id"]].values()) == [
        ("proposal.decided", "queued"), ("approval.approved", "approving"), ("write.intent", "unresolved"),
        ("write.result", "applied"), ("feedback.recorded", "")]
    assert list(story_of[step["proposal_id"]].values()) == [
        ("proposal.decided", "unresolved"), ("write.intent", "unresolved"), ("write.result", "applied"),
        ("rollback.intent", "unresolved"), ("rollback.result", "reverted")]
    assert list(story_of[low["proposal_id"]].values()) == [("proposal.decided", "queued"),
                                                            ("approval.rejected", "rejected")]
    assert json.loads(run("trail", "verify", "--export", str(out)).stdout)["ok"] is True
    rows[1]["status"] = "applied" if rows[1]["status"] != "applied" else "failed"  # an edited status is caught
    with out.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert json.loads(run("trail", "verify", "--export", str(out), code=1).stdout)["ok"] is False
