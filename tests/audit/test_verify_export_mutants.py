"""Export verification edge cases found by mutation testing."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from crmgate.audit.verify_export import verify_export


def test_the_format_falls_back_to_the_file_suffix(verify, export, keys):
    """A manifest that no longer names the format: a .csv export is still read as CSV (and the
    edited manifest fails its signature)."""
    path = export("csv")
    manifest = path.with_name(path.name + ".manifest.json")
    data = json.loads(manifest.read_text(encoding="utf-8"))
    del data["file_format"]
    manifest.write_text(json.dumps(data), encoding="utf-8")
    report = verify(path, keys[1])
    assert report.file_format == "csv" and "manifest_signature" in {p.code for p in report.problems}


def test_a_jsonl_seq_that_is_a_bool_is_not_an_entry(export, keys):
    """"seq": true is not seq 1: the line is malformed."""
    path: Path = export("jsonl")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    first = json.loads(lines[0])
    first["seq"] = True
    lines[0] = json.dumps(first) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    report = verify_export(path, keys[1])
    assert "malformed_entry" in {p.code for p in report.problems}


def test_reports_are_frozen(export, keys):
    report = verify_export(export("jsonl"), keys[1])
    assert report.ok
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.ok = False  # type: ignore[misc]


def _entries_file(path: Path) -> Path:
    return path.with_name(path.name + ".entries.jsonl")


def _rewrite(path: Path, edit) -> None:
    text = path.read_bytes().decode("utf-8")
    changed = edit(text)
    assert changed != text
    path.write_bytes(changed.encode("utf-8"))


def _problems(report) -> list[tuple[str, int | None]]:
    return [(p.code, p.seq) for p in report.problems]


def test_a_csv_entry_that_cannot_be_rendered_is_an_edit_not_a_crash(verify, export, keys):
    """An entry in a CSV's entries file whose change_id is a list (no status can be looked up for
    it) is reported as entry_edited at its seq, never a traceback."""
    path = export("csv")
    _rewrite(_entries_file(path), lambda t: t.replace('"change_id":"chg_2"', '"change_id":["chg_2"]', 1))
    report = verify(path, keys[1])
    assert ("entry_edited", 3) in _problems(report) and not report.ok


def test_summaries_say_ok_or_name_the_first_problem(export, keys):
    """A clean report's summary says OK with its counts; a failed one names the first bad seq and
    the first problem's code."""
    path = export("jsonl")
    good = verify_export(path, keys[1])
    assert good.summary() == "export OK: 15 entries placed in a signed chain of 15 (head seq 15), 5 checkpoints"
    _rewrite(path, lambda t: t.replace("Acme", "Acne", 1))
    bad = verify_export(path, keys[1])
    assert bad.summary().startswith("export INVALID: first bad seq 1; export_sha256: ")


def test_a_bad_checkpoint_names_the_first_problem_since_the_last_good_one(export, keys):
    """When a checkpoint's signature fails and an entry of its batch was already found edited, the
    checkpoint problem names that entry's seq (5), not the first seq of the batch (4)."""
    path = export("jsonl")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[4] = lines[4].replace("Acme", "Acne", 1)
    path.write_text("".join(lines), encoding="utf-8")
    chain = path.with_name(path.name + ".chain")
    _rewrite(chain, lambda t: "".join(line[:-3] + "AAA" + line[-1:] if line.startswith("C 6 ") else line
                                      for line in t.splitlines(keepends=True)))
    report = verify_export(path, keys[1])
    assert ("entry_edited", 5) in _problems(report) and ("checkpoint_signature", 5) in _problems(report)


def test_a_line_shaped_like_the_exporters_is_hashed_as_written(export, keys):
    """A JSONL line that ends with the two hashes as the exporter writes them is read by slicing,
    even when what precedes them is not JSON: it is the entry at the seq it claims, edited."""
    path = export("jsonl")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[0] = ',"seq":1,' + lines[0].rstrip("\n")[-154:] + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    assert _problems(verify_export(path, keys[1])) == [("export_sha256", None), ("entry_edited", 1)]


def test_the_chain_file_is_found_by_the_name_the_manifest_gives(export, keys):
    """The chain proof is read from the file the manifest names, not from PATH.chain: renamed and
    named in the (re-written, so no longer signed) manifest, it is still found and checked."""
    path = export("jsonl")
    chain = path.with_name(path.name + ".chain")
    chain.rename(path.with_name("proof.txt"))
    mpath = path.with_name(path.name + ".manifest.json")
    m = json.loads(mpath.read_text(encoding="utf-8"))
    m["chain"]["file"] = "proof.txt"
    mpath.write_text(json.dumps(m), encoding="utf-8")
    assert _problems(verify_export(path, keys[1])) == [("manifest_signature", None)]


def test_an_unreadable_line_is_named_by_its_line_number(export, keys):
    """A line that is not an entry is malformed_entry and its message gives its 1-based line number."""
    path = export("jsonl")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(["not json\n", *lines[1:]]), encoding="utf-8")
    report = verify_export(path, keys[1])
    [bad] = [p for p in report.problems if p.code == "malformed_entry"]
    assert bad.message == "line 1 is not an entry"


@pytest.mark.parametrize("field", ["data", "prev_hash"])
def test_an_entry_edited_and_rehashed_is_named_at_its_seq(export, keys, field):
    """An entry whose content (or prev_hash) was changed and its own hash recomputed is consistent
    in itself, but its hash is not the chain's at its seq: entry_edited at 5; a rewritten prev_hash
    is also chain_broken at 5. Nothing else is named."""
    from crmgate.audit.formats import jsonl_line
    from crmgate.trail import entry_hash

    path = export("jsonl")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    line = lines[4].rstrip("\n")
    body, prev = line[:-154] + "}", line[-140:-76]
    if field == "data":
        body = body.replace("Acme", "Acne", 1)
    else:
        prev = "f" * 64
    lines[4] = jsonl_line(body, prev, entry_hash(prev, body)) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    expected = [("export_sha256", None), ("entry_edited", 5)] + ([("chain_broken", 5)] if field == "prev_hash" else [])
    assert _problems(verify_export(path, keys[1])) == expected


def test_a_missing_chain_line_names_the_first_missing_seq(export, keys):
    """A chain file that jumps from seq 3 to seq 5 is chain_malformed at seq 4, the first one missing."""
    path = export("jsonl")
    chain = path.with_name(path.name + ".chain")
    _rewrite(chain, lambda t: "".join(line for line in t.splitlines(keepends=True) if not line.startswith("E 4 ")))
    problems = verify_export(path, keys[1]).problems
    assert [(p.code, p.seq, p.message) for p in problems if p.code == "chain_malformed"] == [
        ("chain_malformed", 4, "the chain file jumps from seq 3 to 5")]


def test_an_earlier_entry_repeated_later_is_reordered_and_the_last_one_repeated_is_inserted(export, keys):
    """A copy of entry 1 placed after entry 3 is entries_reordered at 1 (it is below the last seq
    read); a copy of entry 3 right after entry 3 is entry_inserted at 3 (a second entry claims it)."""
    path = export("jsonl")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join([*lines[:3], lines[0], *lines[3:]]), encoding="utf-8")
    assert _problems(verify_export(path, keys[1]))[1:] == [("entries_reordered", 1)]
    path.write_text("".join([*lines[:3], lines[2], *lines[3:]]), encoding="utf-8")
    problems = verify_export(path, keys[1]).problems
    assert [(p.code, p.seq, p.message) for p in problems[1:]] == [
        ("entry_inserted", 3, "a second entry claims seq 3 (inserted)")]


def test_a_rewritten_prev_hash_names_the_seq_before(export, keys):
    """chain_broken says which chain hash the entry's prev_hash should have been: the one at seq-1."""
    from crmgate.audit.formats import jsonl_line
    from crmgate.trail import entry_hash

    path = export("jsonl")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    line = lines[4].rstrip("\n")
    body = line[:-154] + "}"
    lines[4] = jsonl_line(body, "f" * 64, entry_hash("f" * 64, body)) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    [broken] = [p for p in verify_export(path, keys[1]).problems if p.code == "chain_broken"]
    assert broken.message == "entry 5: prev_hash is not the chain's hash at seq 4"


def test_a_recomputed_head_without_its_checkpoint_line_is_named_at_its_batch(export, keys):
    """Entry 15 edited and re-hashed in the export and the chain file, and the chain's last
    checkpoint line dropped, the manifest's head rewritten to match: the chain no longer reaches the
    hash the signed head checkpoint names, so chain_recomputed names the first seq after the last
    good checkpoint (13)."""
    from crmgate.audit.formats import jsonl_line
    from crmgate.trail import entry_hash

    path = export("jsonl")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    line = lines[14].rstrip("\n")
    body, prev = (line[:-154] + "}").replace("Acme", "Acne", 1), line[-140:-76]
    digest = entry_hash(prev, body)
    lines[14] = jsonl_line(body, prev, digest) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    chain = path.with_name(path.name + ".chain")
    _rewrite(chain, lambda t: "".join(f"E 15 {digest}\n" if line.startswith("E 15 ") else line
                                      for line in t.splitlines(keepends=True) if not line.startswith("C 15 ")))
    mpath = path.with_name(path.name + ".manifest.json")
    m = json.loads(mpath.read_text(encoding="utf-8"))
    m["head"]["hash"] = digest  # the manifest follows the forgery; its signed head checkpoint cannot
    mpath.write_text(json.dumps(m), encoding="utf-8")
    assert _problems(verify_export(path, keys[1])) == [
        ("manifest_signature", None), ("head_mismatch", 15), ("export_sha256", None), ("chain_sha256", None),
        ("chain_recomputed", 13)]


def test_a_clean_report_did_not_stop_early(export, keys):
    """stopped_early is only set when the problem limit was reached: a clean report says False."""
    report = verify_export(export("jsonl"), keys[1])
    assert report.ok and report.stopped_early is False and report.to_dict()["stopped_early"] is False


def test_a_recomputed_head_that_the_manifest_does_not_follow_is_a_head_mismatch(export, keys):
    """Entry 15 edited and re-hashed in the export and the chain file, the last checkpoint line
    dropped, the manifest left alone: the chain ends at the head seq with another hash than the
    manifest's head (head_mismatch at 15) and than its signed checkpoint (chain_recomputed at 15)."""
    from crmgate.audit.formats import jsonl_line
    from crmgate.trail import entry_hash

    path = export("jsonl")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    line = lines[14].rstrip("\n")
    body, prev = (line[:-154] + "}").replace("Acme", "Acne", 1), line[-140:-76]
    digest = entry_hash(prev, body)
    lines[14] = jsonl_line(body, prev, digest) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    chain = path.with_name(path.name + ".chain")
    _rewrite(chain, lambda t: "".join(f"E 15 {digest}\n" if line.startswith("E 15 ") else line
                                      for line in t.splitlines(keepends=True) if not line.startswith("C 15 ")))
    assert _problems(verify_export(path, keys[1])) == [
        ("export_sha256", None), ("chain_sha256", None), ("head_mismatch", 15), ("chain_recomputed", 15)]


def test_a_chain_file_cut_before_the_head_names_the_first_missing_seq(export, keys):
    """A chain file whose last entries (14, 15) and checkpoint were cut is tail_cut at seq 14."""
    path = export("jsonl")
    chain = path.with_name(path.name + ".chain")
    _rewrite(chain, lambda t: "".join(line for line in t.splitlines(keepends=True)
                                      if not line.startswith(("E 14 ", "E 15 ", "C 15 "))))
    report = verify_export(path, keys[1])
    assert [p.seq for p in report.problems if p.code == "tail_cut"][-1] == 14


def test_an_entry_slipped_in_before_the_first_exported_one_is_inserted(export, keys, trail):
    """In an export of ai:b's entries (2, 4, ...), entry 1 placed first is named as an entry the
    chain says was not exported, not as a second entry for a seq already read."""
    from crmgate.audit.formats import jsonl_line

    path = export("jsonl", actor="ai:b")
    [first] = trail.read(1, 1)
    text = path.read_text(encoding="utf-8")
    path.write_text(jsonl_line(first.body(), first.prev_hash, first.hash) + "\n" + text, encoding="utf-8")
    problems = verify_export(path, keys[1]).problems
    assert [(p.code, p.seq, p.message) for p in problems[1:]] == [
        ("entry_inserted", 1, "entry 1 is in the export but the chain says seq 1 was not exported (inserted)")]


def test_an_entry_already_found_edited_is_named_once(export, keys):
    """A line with a key no entry has (read by parsing, since its hashes are spaced differently) and
    a forged hash is one entry_edited problem, naming the unexpected key; the forged hash adds none."""
    path = export("jsonl")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    d = json.loads(lines[4])
    d["zzz"], d["hash"] = 1, "f" * 64
    lines[4] = json.dumps(d) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    problems = verify_export(path, keys[1]).problems
    assert [(p.code, p.seq, p.message) for p in problems] == [
        ("export_sha256", None, "the export file's SHA-256 differs from the manifest: the file was changed"),
        ("entry_edited", 5, "entry 5: unexpected keys ['zzz']")]


@pytest.mark.parametrize("head", ['{"ab":12345,"x":1', '{"ab":"x","seq":\u0661,"x":1'])
def test_a_line_without_a_plain_seq_is_parsed_not_sliced(export, keys, head):
    """Slicing needs a top-level ,"seq": followed by ASCII digits; a line ending like the exporter's
    without one (no seq key; a non-ASCII digit) is parsed instead, and is not an entry."""
    path = export("jsonl")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[0] = head + lines[0].rstrip("\n")[-154:] + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    problems = verify_export(path, keys[1]).problems
    assert ("malformed_entry", None) in [(p.code, p.seq) for p in problems]


def test_a_clean_csv_report_says_how_its_rows_were_checked(verify, export, keys):
    """What a clean CSV verification established names the entries file and the rows rendered again;
    a JSONL one says its entries were hashed from their content."""
    csv_report, jsonl_report = verify(export("csv"), keys[1]), verify(export("jsonl"), keys[1])
    assert ("every entry in the CSV's entries file hashed again, and the CSV's rows rendered again from "
            "those entries and equal to the file") in csv_report.verified
    assert "every JSONL entry's hash recomputed from its content" in jsonl_report.verified


def test_swapped_entries_are_counted_once(export, keys):
    """Entries 5 and 7 swapped: entries_reordered at 5 and nothing else (each is counted once, so the
    manifest's count still agrees)."""
    path = export("jsonl", actor="ai:a")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2], lines[3] = lines[3], lines[2]
    path.write_text("".join(lines), encoding="utf-8")
    report = verify_export(path, keys[1])
    assert _problems(report) == [("export_sha256", None), ("entries_reordered", 5)] and report.entries == 8


def test_an_edited_entry_with_a_forged_hash_is_named_once(export, keys):
    """An entry whose content was edited and whose hash was replaced by another value is one
    entry_edited problem (its content does not match its hash); the hash is not compared further."""
    from crmgate.audit.formats import jsonl_line

    path = export("jsonl")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    line = lines[4].rstrip("\n")
    lines[4] = jsonl_line((line[:-154] + "}").replace("Acme", "Acne", 1), line[-140:-76], "f" * 64) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    problems = verify_export(path, keys[1]).problems
    assert [(p.code, p.seq, p.message) for p in problems[1:]] == [
        ("entry_edited", 5, "entry 5: its content does not match its hash (edited)")]


def test_an_unreadable_line_in_a_csv_entries_file_is_a_finding(verify, export, keys):
    """A line of a CSV's entries file that is not JSON is malformed_entry, never a traceback."""
    path = export("csv")
    entries = _entries_file(path)
    lines = entries.read_text(encoding="utf-8").splitlines(keepends=True)
    entries.write_text("".join([lines[0], "not json\n", *lines[2:]]), encoding="utf-8")
    assert ("malformed_entry", None) in _problems(verify(path, keys[1]))


def test_statuses_are_folded_past_an_unreadable_line(verify, store, keys, tmp_path):
    """The CSV's status is folded from every readable entry, also those after an unreadable line:
    the intent in row 1 still shows its change's final status (applied, from the result at the end),
    so it is not reported as edited."""
    from crmgate.audit.export import export_trail
    from crmgate.trail import NewEntry

    store.append([NewEntry(kind="write.intent", change_id="chg_a", data={"changes": []}),
                  NewEntry(kind="write.intent", change_id="chg_b", data={"changes": []}),
                  NewEntry(kind="write.result", change_id="chg_a", data={"status": "ok"})])
    path = tmp_path / "x.csv"
    export_trail(store, path, fmt="csv", signer=keys[0])
    entries = _entries_file(path)
    lines = entries.read_text(encoding="utf-8").splitlines(keepends=True)
    entries.write_text("".join([lines[0], "not json\n", lines[2]]), encoding="utf-8")
    problems = _problems(verify(path, keys[1]))
    assert ("malformed_entry", None) in problems and ("entry_edited", 1) not in problems


@pytest.mark.parametrize("which", ["chain", "entries_file"])
def test_sidecars_default_to_their_names_beside_the_export(verify, export, keys, which):
    """A manifest that names no chain (or entries) file: PATH.chain (PATH.entries.jsonl) is read, and
    only the edited manifest's signature and the missing SHA-256 are reported."""
    path = export("csv")
    mpath = path.with_name(path.name + ".manifest.json")
    m = json.loads(mpath.read_text(encoding="utf-8"))
    m[which] = {"sha256": m[which]["sha256"]}
    mpath.write_text(json.dumps(m), encoding="utf-8")
    assert _problems(verify(path, keys[1])) == [("manifest_signature", None)]


def test_an_entries_file_is_found_by_the_name_the_manifest_gives(verify, export, keys):
    """The CSV's entries are read from the file the manifest names: renamed and named there (the
    manifest's signature then fails), it is still found, checked and rendered."""
    path = export("csv")
    _entries_file(path).rename(path.with_name("bodies.jsonl"))
    mpath = path.with_name(path.name + ".manifest.json")
    m = json.loads(mpath.read_text(encoding="utf-8"))
    m["entries_file"]["file"] = "bodies.jsonl"
    mpath.write_text(json.dumps(m), encoding="utf-8")
    assert _problems(verify(path, keys[1])) == [("manifest_signature", None)]


def test_reaching_the_problem_limit_stops_early(store, keys, tmp_path, clock):
    """With more than 50 problems the verifier stops at 50 and says it stopped early."""
    from crmgate.audit.export import export_trail
    from tests.audit.conftest import fill_mixed

    fill_mixed(store, clock, batches=20, size=3)
    path = tmp_path / "x.jsonl"
    export_trail(store, path, signer=keys[0])
    _rewrite(path, lambda t: t.replace("Acme", "Acne"))
    report = verify_export(path, keys[1])
    assert len(report.problems) == 50 and report.stopped_early is True


def test_an_entry_claiming_seq_0_is_inserted(export, keys):
    """An entry whose seq was changed to 0 is entry_inserted at 0 (no entry has seq 0), and the
    seq it replaced is missing."""
    path = export("jsonl")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2].replace('"seq":3,', '"seq":0,', 1)
    path.write_text("".join(lines), encoding="utf-8")
    problems = _problems(verify_export(path, keys[1]))
    assert ("entry_inserted", 0) in problems and ("entry_deleted", 3) in problems


def test_a_bad_first_checkpoint_names_seq_1(export, keys):
    """The first checkpoint's signature failing leaves every entry from seq 1 unauthenticated."""
    path = export("jsonl")
    chain = path.with_name(path.name + ".chain")
    _rewrite(chain, lambda t: "".join(line[:-3] + "AAA" + line[-1:] if line.startswith("C 3 ") else line
                                      for line in t.splitlines(keepends=True)))
    assert ("checkpoint_signature", 1) in _problems(verify_export(path, keys[1]))


def test_a_line_is_sliced_only_when_both_hashes_sit_where_the_exporter_puts_them(export, keys):
    """A line whose "hash" key was renamed (same length, so prev_hash still sits in place) is not
    sliced but parsed: an entry with an unexpected key, edited."""
    path = export("jsonl")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[4] = lines[4].replace('","hash":"', '","hazh":"', 1)
    path.write_text("".join(lines), encoding="utf-8")
    assert _problems(verify_export(path, keys[1])) == [("export_sha256", None), ("entry_edited", 5)]


def test_a_csv_whose_header_is_no_formats_is_named(verify, export, keys):
    """A CSV whose header is not that of any CSV format (here one column renamed) is malformed, and
    the message says which formats the verifier reads; nothing is claimed."""
    path = export("csv")
    _rewrite(path, lambda t: t.replace(",status,", ",state,", 1))
    report = verify(path, keys[1])
    assert [p.message for p in report.problems if p.code == "malformed_entry"] == [
        "the CSV header is not the header of any crmgate CSV format (3, 2 or 1)"]
    assert report.verified == ()


def test_a_csv_without_its_entries_file_says_so(verify, export, keys):
    """A manifest that names no entries file (edited) and no PATH.entries.jsonl beside the CSV:
    the verifier says the entries file is missing instead of comparing rows with nothing."""
    path = export("csv")
    mpath = path.with_name(path.name + ".manifest.json")
    m = json.loads(mpath.read_text(encoding="utf-8"))
    del m["entries_file"]
    mpath.write_text(json.dumps(m), encoding="utf-8")
    _entries_file(path).unlink()
    report = verify(path, keys[1])
    assert "the CSV's entries file export.csv.entries.jsonl is missing" in [p.message for p in report.problems]


def test_rows_after_the_last_entry_are_named(verify, export, keys):
    """A CSV with a row appended after its last exported entry's rows is malformed (and its SHA-256
    fails): the rows are compared to the end of the file."""
    path = export("csv")
    _rewrite(path, lambda t: t + t.splitlines(keepends=True)[-1])
    report = verify(path, keys[1])
    assert [p.message for p in report.problems if p.code == "malformed_entry"] == [
        "the CSV has rows after the last exported entry"]


def test_an_entries_line_shaped_like_the_exporters_but_not_json_is_an_edit_not_a_crash(verify, export, keys):
    """A line of a CSV's entries file that ends with the two hashes as the exporter writes them is
    sliced, not parsed; when its body is not JSON, the CSV's rows cannot be rendered from it: it is
    entry_edited at the seq it claims, never a traceback."""
    path = export("csv")
    _rewrite(_entries_file(path), lambda t: t.replace('{"actor":"ai:b"', '{"actor":"ai:b"!', 1))
    report = verify(path, keys[1])
    assert _problems(report) == [("entries_sha256", None), ("entry_edited", 2)]


def test_a_format_2_entry_whose_status_cannot_be_looked_up_is_an_edit_not_a_crash(tmp_path):
    """In a format-2 CSV's entries file, an entry whose change_id is a list (its final status cannot
    be looked up) is entry_edited at its seq, never a traceback."""
    import shutil

    from crmgate.trail import load_public_key

    legacy = Path(__file__).parent / "legacy_v2"
    for f in legacy.iterdir():
        shutil.copy(f, tmp_path / f.name)
    path = tmp_path / "audit.csv"
    _rewrite(_entries_file(path), lambda t: t.replace('"change_id":"chg_1"', '"change_id":["chg_1"]', 1))
    report = verify_export(path, load_public_key(tmp_path / "trail.pub"))
    assert _problems(report) == [("entries_sha256", None), ("entry_edited", 1)]
