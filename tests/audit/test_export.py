"""Auditor exports: formats, filters, the manifest and the chain proof, and offline verification."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from crmgate.audit.export import ExportFilters, TrailInvalidError, export_trail, parse_time
from crmgate.audit.formats import CSV_COLUMNS, neutralise
from crmgate.audit.verify_export import verify_export
from crmgate.errors import CrmgateError
from crmgate.trail import TrailSigner, checkpoint_message
from crmgate.trail.chainproof import manifest_signed_by
from tests.audit.conftest import need_fork
from tests.trail.trailkit import recompute_chain_from


def manifest(path: Path) -> dict:
    return json.loads(path.with_name(path.name + ".manifest.json").read_text())


def test_filtered_jsonl_export_verifies_and_holds_whole_entries(export, trail, keys):
    """A filtered JSONL export holds exactly the selected entries, whole, and verifies offline."""
    path = export("jsonl", actor="ai:a")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [d["seq"] for d in lines] == [1, 3, 5, 7, 9, 11, 13, 15]
    stored = {e.seq: e for e in trail.read(1, 100)}
    assert all(d == stored[d["seq"]].to_dict() for d in lines)
    report = verify_export(path, keys[1])
    assert report.ok, report.problems
    assert (report.entries, report.chain_entries, report.checkpoints, report.head_seq) == (8, 15, 5, 15)


def test_manifest_records_filters_counts_hashes_and_signed_head(export, trail, keys):
    """The manifest names filters, count, first/last seq, the file's SHA-256, the head and its signed
    checkpoint, and is itself signed by the trail key."""
    path = export("jsonl", actor="ai:a", since=parse_time("2026-11-22T09:01:00Z"))
    m = manifest(path)
    assert m["filters"]["actor"] == "ai:a" and m["filters"]["since"] == "2026-11-22T09:01:00.000000Z"
    assert (m["entries"], m["first_seq"], m["last_seq"]) == (6, 5, 15)
    import hashlib
    assert m["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert m["head"] == {"seq": 15, "hash": trail.head()[1]}
    cp = m["head_checkpoint"]
    assert cp["seq"] == 15 and keys[1].verify(checkpoint_message(15, cp["head_hash"], cp["ts"], cp["key_id"]),
                                              cp["signature"])
    assert manifest_signed_by(m, keys[1])
    assert verify_export(path, keys[1]).ok




@pytest.mark.parametrize("filters,expected", [
    ({"until": "2026-11-22T09:01:00.000000Z"}, [1, 2, 3]),
    ({"use_case": "uc_b"}, [2, 4, 6, 8, 10, 12, 14]),
    ({"object": "Contact"}, []),
    ({"record_id": "00Q00004"}, [5]),
])
def test_each_filter(export, keys, filters, expected):
    """Each filter selects exactly its entries, and the result verifies offline."""
    path = export("jsonl", **filters)
    assert [json.loads(line)["seq"] for line in path.read_text().splitlines()] == expected
    report = verify_export(path, keys[1])
    assert report.ok and report.entries == len(expected)


def test_csv_has_one_row_per_field_change_and_is_spreadsheet_safe(export, keys):
    """CSV rows are per field change, each with the entry's seq and hash and no copy of the hashed
    entry; formula-like cells are neutralised; the hashed entries travel beside it; it verifies."""
    path = export("csv", actor="ai:a")
    rows = list(csv.DictReader(path.open(newline="", encoding="utf-8")))
    assert list(rows[0]) == list(CSV_COLUMNS) and "body" not in rows[0] and "prev_hash" not in rows[0]
    assert len(rows) == 16 and [r["seq"] for r in rows[:2]] == ["1", "1"]
    entries = [json.loads(line) for line in path.with_name(path.name + ".entries.jsonl").read_text().splitlines()]
    assert [e["seq"] for e in entries] == [1, 3, 5, 7, 9, 11, 13, 15]
    assert rows[0]["hash"] == rows[1]["hash"] == entries[0]["hash"]
    assert rows[0]["field"] == "Company" and rows[0]["after"] == "'=HYPERLINK(\"x0\")"
    assert rows[3]["after"] == "'-2"  # a negative number starts with "-"
    m = manifest(path)
    assert m["rows"] == 16 and m["entries_file"]["file"] == "export.csv.entries.jsonl"
    assert verify_export(path, keys[1]).ok


@pytest.mark.parametrize("cell,safe", [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
                                       ("\tx", "'\tx"), ("\rx", "'\rx"), ("plain", "plain"), ("", ""),
                                       ("a=b", "a=b")])
def test_neutralise(cell, safe):
    """Cells starting with = + - @ tab or CR get a leading quote; others are untouched."""
    assert neutralise(cell) == safe


def test_csv_entry_without_field_changes_has_one_row(store, keys, tmp_path):
    """An entry with no field changes is one CSV row with empty field columns."""
    from crmgate.trail import NewEntry

    store.append([NewEntry(kind="feedback.recorded", change_id="chg_1", actor="ana", data={"correct": True})])
    out = tmp_path / "x.csv"
    export_trail(store, out, fmt="csv", signer=keys[0])
    [row] = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
    assert (row["kind"], row["field"], row["before"], row["after"]) == ("feedback.recorded", "", "", "")
    assert verify_export(out, keys[1]).ok


def test_export_refuses_a_tampered_store_and_leaves_no_file(trail, keys, tmp_path):
    """A store whose chain was recomputed without the key is not exported; no file is left behind."""
    recompute_chain_from(trail, 5, {"forged": True})
    out = tmp_path / "bad.jsonl"
    with pytest.raises(TrailInvalidError) as info:
        export_trail(trail, out, signer=keys[0])
    assert info.value.report.first_bad_seq == 4
    assert list(tmp_path.glob("bad.jsonl*")) == []


def test_empty_trail_exports_and_verifies(store, keys, tmp_path):
    """An empty trail exports an empty file whose manifest has head seq 0, and it verifies."""
    out = tmp_path / "empty.jsonl"
    m = export_trail(store, out, signer=keys[0])
    assert (m["entries"], m["head"]["seq"], m["head_checkpoint"]) == (0, 0, None)
    assert verify_export(out, keys[1]).ok


def test_wrong_public_key_fails(export, tmp_path):
    """Another key's public key verifies neither the manifest nor the head."""
    report = verify_export(export("jsonl"), TrailSigner.generate().public_key())
    assert {"manifest_signature", "head_signature", "checkpoint_signature"} <= {p.code for p in report.problems}


def test_bad_time_is_a_user_error():
    """An unparsable --since is a structured user error, not a traceback."""
    with pytest.raises(CrmgateError) as info:
        parse_time("last tuesday", name="since")
    assert info.value.code == "invalid_time"
    assert parse_time("2026-11-22") == "2026-11-22T00:00:00.000000Z"
    assert parse_time("2026-11-22T10:00:00+01:00") == "2026-11-22T09:00:00.000000Z"


LEGACY = Path(__file__).parent / "legacy_v1"
LEGACY_V2 = Path(__file__).parent / "legacy_v2"


def _verify_edited_copy(fixture: Path, tmp_path: Path, cell: str, edited: str, verify=verify_export):
    """Copy an old export ``fixture`` to ``tmp_path``, replace the first ``cell`` of its audit.csv
    with ``edited``, and verify it against the fixture's public key (with ``verify``)."""
    import shutil

    from crmgate.trail import load_public_key

    for f in fixture.iterdir():
        shutil.copy(f, tmp_path / f.name)
    path = tmp_path / "audit.csv"
    text = path.read_bytes().decode("utf-8")
    path.write_text(text.replace(cell, edited, 1), encoding="utf-8", newline="")
    return verify(path, load_public_key(tmp_path / "trail.pub"))


@pytest.mark.parametrize("name", ["audit.csv", "audit.jsonl"])
def test_exports_made_before_csv_format_2_still_verify(verify, name, tmp_path):
    """Exports written by the previous exporter (CSV with prev_hash and body columns; JSONL, whose
    format did not change) verify with today's verifier, and say what they established."""
    from crmgate.trail import load_public_key

    report = verify(LEGACY / name, load_public_key(LEGACY / "trail.pub"))
    assert report.ok, report.problems
    assert (report.entries, report.chain_entries) == ((5, 10) if name == "audit.csv" else (10, 10))


def test_an_edited_cell_of_a_format_1_csv_is_named(verify, tmp_path):
    """In a format-1 CSV, a field cell outside the hashed body cell is still compared with the rows
    rendered from that body: an edit is entry_edited at its seq."""
    report = _verify_edited_copy(LEGACY, tmp_path, ",'-2,", ",'-3,", verify)
    assert [(p.code, p.seq) for p in report.problems] == [("export_sha256", None), ("entry_edited", 3)]


@pytest.mark.parametrize("name,entries", [("audit.csv", 9), ("actor.csv", 7)])
def test_csv_exports_of_format_2_still_verify(verify, name, entries):
    """CSVs written by the format-2 exporter (17 columns, each change's final status folded from
    every entry: rolled_back, rejected) verify with today's verifier."""
    from crmgate.trail import load_public_key

    report = verify(LEGACY_V2 / name, load_public_key(LEGACY_V2 / "trail.pub"))
    assert report.ok, report.problems
    assert report.entries == entries and report.chain_entries == 9
    statuses = {r["change_id"]: r["status"] for r in csv.DictReader((LEGACY_V2 / name).open(newline=""))}
    assert statuses["chg_1"] == "rolled_back" and statuses["chg_2"] == "rejected"


def test_an_edited_status_of_a_format_2_csv_is_named(verify, tmp_path):
    """In a format-2 CSV the final status is still rendered again from the entries: a status cell
    changed from rolled_back to applied is entry_edited at its seq."""
    report = _verify_edited_copy(LEGACY_V2, tmp_path, ",rolled_back,ok,", ",applied,ok,", verify)
    assert [(p.code, p.seq) for p in report.problems] == [("export_sha256", None), ("entry_edited", 3)]


def test_a_store_whose_selected_column_disagrees_with_its_body_is_not_exported(trail, keys, tmp_path):
    """The columns an export reads (here the actor filter's) are checked against the hashed body
    while streaming: an edited actor column stops the export with the verifier's column_mismatch,
    and no file is left behind."""
    import sqlite3

    db = trail.engine.url.database
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE trail_entries SET actor = 'ai:b' WHERE seq = 3")
    out = tmp_path / "x.csv"
    with pytest.raises(TrailInvalidError) as info:
        export_trail(trail, out, fmt="csv", filters=ExportFilters(actor="ai:a"), signer=keys[0])
    assert [(p.code, p.seq) for p in info.value.report.problems] == [("column_mismatch", 3)]
    assert list(tmp_path.glob("x.csv*")) == []


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_column_the_export_does_not_read_does_not_stop_it(trail, keys, tmp_path, fmt):
    """Exports check while streaming only what they read: with the op column edited (never read by
    an export, which writes the hashed bodies), the export is written and verifies offline, while the
    full trail verifier names the column (so the streaming check, not a verify-first pass, ran)."""
    import sqlite3

    from crmgate.trail import verify_store

    with sqlite3.connect(trail.engine.url.database) as conn:
        conn.execute("UPDATE trail_entries SET op = 'delete' WHERE seq = 3")
    assert [(p.code, p.seq) for p in verify_store(trail, keys[1]).problems] == [("column_mismatch", 3)]
    out = tmp_path / f"x.{fmt}"
    export_trail(trail, out, fmt=fmt, signer=keys[0])
    assert verify_export(out, keys[1]).ok


@pytest.mark.parametrize("fmt,parallel", [("jsonl", None), ("csv", False), ("csv", True)])
def test_a_body_that_is_not_json_is_reported_not_a_traceback(trail, keys, tmp_path, fmt, parallel):
    """A stored body replaced by text that is not JSON stops the export with the verifier's
    report (hash_mismatch and malformed_entry at its seq), in CSV too, where bodies are parsed to
    render rows (in a worker process or not)."""
    import sqlite3

    with sqlite3.connect(trail.engine.url.database) as conn:
        conn.execute("UPDATE trail_entries SET body = 'not json', kind = 'write.result' WHERE seq = 4")
    with pytest.raises(TrailInvalidError) as info:
        export_trail(trail, tmp_path / f"x.{fmt}", fmt=fmt, signer=keys[0], parallel=parallel)
    assert {("hash_mismatch", 4), ("malformed_entry", 4)} <= {(p.code, p.seq) for p in info.value.report.problems}
    assert list(tmp_path.glob("x.*")) == []


@pytest.mark.parametrize("parallel", [False, True])
def test_a_signed_body_that_is_not_json_is_reported_by_a_csv_export(trail, keys, tmp_path, parallel):
    """A body that is not JSON but hashed and signed like any other (a trail written wrong by a
    holder of the key) passes the export's hash check; rendering its rows fails, and the export
    starts over under the trail verifier, which names it: malformed_entry at its seq, no file left."""
    from sqlalchemy import text as sql_text

    from crmgate.trail import entry_hash
    from tests.trail.trailkit import rows

    if parallel:
        need_fork()
    prev = "0" * 64
    with trail.engine.begin() as conn:
        for row in rows(trail):
            body = "not json" if row["seq"] == 4 else row["body"]
            digest = entry_hash(prev, body)
            conn.execute(sql_text("UPDATE trail_entries SET body = :b, prev_hash = :p, hash = :h WHERE seq = :s"),
                         {"b": body, "p": prev, "h": digest, "s": row["seq"]})
            prev = digest
            cp = conn.execute(sql_text("SELECT ts, key_id FROM trail_checkpoints WHERE seq = :s"),
                              {"s": row["seq"]}).first()
            if cp is not None:
                signature = keys[0].sign(checkpoint_message(row["seq"], digest, cp.ts, cp.key_id))
                conn.execute(sql_text("UPDATE trail_checkpoints SET head_hash = :h, signature = :g WHERE seq = :s"),
                             {"h": digest, "g": signature, "s": row["seq"]})
        conn.execute(sql_text("UPDATE trail_head SET hash = :h WHERE id = 1"), {"h": prev})
    with pytest.raises(TrailInvalidError) as info:
        export_trail(trail, tmp_path / "x.csv", fmt="csv", signer=keys[0], parallel=parallel)
    assert ("malformed_entry", 4) in {(p.code, p.seq) for p in info.value.report.problems}
    assert list(tmp_path.glob("x.*")) == []
