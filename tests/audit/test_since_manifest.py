"""Truncation proof: the live trail must still extend the head an earlier export recorded."""
from __future__ import annotations

from crmgate.audit.manifest import verify_since_manifest
from tests.trail.trailkit import recompute_chain_from, sql

from .conftest import mixed_entry


def test_grown_trail_extends_the_old_head(export, trail, keys):
    """After more appends, the trail still extends the exported head: ok."""
    path = export("jsonl")
    trail.append([mixed_entry(100)])
    result = verify_since_manifest(trail, keys[1], path.with_name(path.name + ".manifest.json"))
    assert result["ok"] and result["old_head"]["seq"] == 15 and result["live_head"]["seq"] == 16


def test_cut_tail_with_its_checkpoints_is_caught(export, trail, keys):
    """Entries and checkpoints cut off the end (undetectable by the store alone) are named tail_cut."""
    path = export("jsonl")
    for table in ("trail_entries", "trail_checkpoints"):
        sql(trail, f"DELETE FROM {table} WHERE seq > 9")
    sql(trail, "UPDATE trail_head SET seq = 9, hash = (SELECT hash FROM trail_entries WHERE seq = 9)")
    result = verify_since_manifest(trail, keys[1], path.with_name(path.name + ".manifest.json"))
    assert not result["ok"] and result["first_bad_seq"] == 10
    assert [p["code"] for p in result["problems"]] == ["tail_cut"]


def test_rewritten_history_is_caught(export, trail, keys):
    """A chain recomputed after the export no longer has the exported head hash at that seq."""
    path = export("jsonl")
    recompute_chain_from(trail, 5, {"forged": True})
    result = verify_since_manifest(trail, keys[1], path.with_name(path.name + ".manifest.json"))
    found = {p["code"] for p in result["problems"]}
    assert not result["ok"] and "history_rewritten" in found and "checkpoint_mismatch" in found


def test_forged_old_manifest_is_refused(export, trail, keys, tmp_path):
    """An old manifest whose head was edited fails its signatures instead of proving anything."""
    import json

    path = export("jsonl")
    mpath = path.with_name(path.name + ".manifest.json")
    m = json.loads(mpath.read_text())
    m["head"]["seq"] = 3
    mpath.write_text(json.dumps(m))
    result = verify_since_manifest(trail, keys[1], mpath)
    assert not result["ok"] and {"manifest_signature", "head_mismatch"} <= {p["code"] for p in result["problems"]}
