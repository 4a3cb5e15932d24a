"""Every way of tampering with an export is detected offline and named, for JSONL and CSV alike.

The trail (see conftest) has 15 entries in batches ending at seqs 3, 6, 9, 12, 15; the filtered
export (actor ai:a) holds seqs 1, 3, 5, ..., 15, so the chain proof has to span the gaps. A CSV
export's hashed entries are in PATH.entries.jsonl: the tampering below is done to them and to the
CSV's rows alike (as a forger would), unless the test says otherwise.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from crmgate.audit.formats import ENTRIES_SUFFIX, csv_entry, jsonl_line
from crmgate.trail import GENESIS, canonical_json, entry_hash
from crmgate.trail.records import CONTENT_FIELDS

FORMATS = ["jsonl", "csv"]


def split(path: Path, fmt: str) -> tuple[str, list[tuple[int, str]]]:
    """Return (header, [(seq, text of that entry's line or rows)]) of an export."""
    text = path.read_bytes().decode("utf-8")
    sep = "\r\n" if fmt == "csv" else "\n"
    lines = [line + sep for line in text.split(sep) if line]
    header = lines.pop(0) if fmt == "csv" else ""
    units: list[tuple[int, str]] = []
    for line in lines:
        seq = int(line.split(",", 1)[0]) if fmt == "csv" else json.loads(line)["seq"]
        if units and units[-1][0] == seq:
            units[-1] = (seq, units[-1][1] + line)
        else:
            units.append((seq, line))
    return header, units


def join(path: Path, header: str, units: list[tuple[int, str]]) -> None:
    path.write_text(header + "".join(text for _, text in units), encoding="utf-8", newline="")


def unit(fmt: str, body: str, prev: str, digest: str) -> str:
    """One entry as the exporter writes it."""
    if fmt == "csv":
        return csv_entry(json.loads(body), digest)[0]
    return jsonl_line(body, prev, digest) + "\n"


def tamper(path: Path, fmt: str, change) -> None:
    """Apply ``change(units, kind)`` to the export's hashed entries and, for CSV, to its rows alike."""
    for target, kind in ([(path, "jsonl")] if fmt == "jsonl" else
                         [(sidecar(path, ENTRIES_SUFFIX), "jsonl"), (path, "csv")]):
        header, units = split(target, kind)
        join(target, header, change(units, kind))


def sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def codes(report) -> set[str]:
    return {p.code for p in report.problems}


def named(report, code: str) -> list[int | None]:
    return [p.seq for p in report.problems if p.code == code]


@pytest.fixture
def filtered(export):
    def make(fmt: str) -> Path:
        return export(fmt, actor="ai:a")
    return make


@pytest.mark.parametrize("fmt", FORMATS)
def test_untouched_filtered_export_verifies(verify, filtered, keys, fmt):
    """Control: the untouched filtered export verifies, so every failure below is the tampering's."""
    report = verify(filtered(fmt), keys[1])
    assert report.ok and report.entries == 8 and report.first_bad_seq is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_edited_entry(verify, filtered, keys, fmt):
    """An edited value in an exported entry is named entry_edited at its seq (and the file SHA fails)."""
    path = filtered(fmt)
    tamper(path, fmt, lambda units, _: [(s, t.replace("Acme", "Acne") if s == 5 else t) for s, t in units])
    report = verify(path, keys[1])
    assert not report.ok and named(report, "entry_edited") == [5] and report.first_bad_seq == 5
    assert "export_sha256" in codes(report)


def test_edited_csv_cell_outside_the_body(verify, filtered, keys):
    """In CSV, editing a field cell of a later row (not the hashed body) is still entry_edited."""
    path = filtered("csv")
    header, units = split(path, "csv")
    seq, text = units[2]
    first, second = text.split("\r\n", 1)
    units[2] = (seq, first + "\r\n" + second.replace(",'-4,", ",'-40000,"))
    join(path, header, units)
    report = verify(path, keys[1])
    assert named(report, "entry_edited") == [5]


@pytest.mark.parametrize("fmt", FORMATS)
def test_deleted_entry(verify, filtered, keys, fmt):
    """An entry removed from the middle of the export is named entry_deleted at its seq."""
    path = filtered(fmt)
    tamper(path, fmt, lambda units, _: [u for u in units if u[0] != 7])
    report = verify(path, keys[1])
    assert named(report, "entry_deleted") == [7] and report.first_bad_seq == 7


@pytest.mark.parametrize("fmt", FORMATS)
def test_reordered_entries(verify, filtered, keys, fmt):
    """Two swapped entries are named entries_reordered, not deleted."""
    path = filtered(fmt)
    tamper(path, fmt, lambda units, _: [*units[:2], units[3], units[2], *units[4:]])  # seqs 5 and 7
    report = verify(path, keys[1])
    assert named(report, "entries_reordered") == [5] and "entry_deleted" not in codes(report)


@pytest.mark.parametrize("fmt", FORMATS)
def test_inserted_entry(verify, filtered, keys, trail, fmt):
    """A genuine entry the filter did not select, slipped into the export, is named entry_inserted."""
    path = filtered(fmt)
    with trail.scan() as scan:
        row = next(r for r in scan.rows() if r["seq"] == 4)
    tamper(path, fmt, lambda units, kind: [*units[:2], (4, unit(kind, row["body"], row["prev_hash"], row["hash"])),
                                           *units[2:]])
    report = verify(path, keys[1])
    assert named(report, "entry_inserted") == [4]


@pytest.mark.parametrize("fmt", FORMATS)
def test_cut_tail(verify, filtered, keys, fmt):
    """Dropping the last exported entries is named tail_cut at the first missing seq."""
    path = filtered(fmt)
    tamper(path, fmt, lambda units, _: units[:-2])
    report = verify(path, keys[1])
    assert named(report, "tail_cut") == [13] and report.first_bad_seq == 13


@pytest.mark.parametrize("fmt", FORMATS)
def test_tampered_export_file_alone(verify, filtered, keys, fmt):
    """A byte-level change that leaves every entry intact (the spacing of the hashes after an entry's
    body) is still caught by the SHA-256 of the file it was made in."""
    path = filtered(fmt)
    target = path if fmt == "jsonl" else sidecar(path, ENTRIES_SUFFIX)
    text = target.read_bytes().decode("utf-8")
    changed = text.replace(',"hash":"', ', "hash": "', 1)
    assert changed != text
    target.write_text(changed, encoding="utf-8", newline="")
    report = verify(path, keys[1])
    assert codes(report) == {"export_sha256" if fmt == "jsonl" else "entries_sha256"}


def test_a_changed_body_byte_is_an_edit(verify, filtered, keys):
    """A JSONL line whose hashed body changed by one byte (a space that JSON readers would not
    mind) is an edit of that entry: the body is hashed as written, never re-serialised."""
    path = filtered("jsonl")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2].replace('"kind":', '"kind": ', 1)
    path.write_text("".join(lines), encoding="utf-8", newline="")
    report = verify(path, keys[1])
    assert codes(report) == {"export_sha256", "entry_edited"} and named(report, "entry_edited") == [5]


def test_a_requoted_csv_cell_is_an_edit(verify, filtered, keys):
    """The CSV must be byte for byte the rendering of its hashed entries: a cell quoted differently
    is named entry_edited at its entry's seq (and the file's SHA-256 fails)."""
    path = filtered("csv")
    text = path.read_bytes().decode("utf-8")
    path.write_text(text.replace(",Lead,", ',"Lead",', 1), encoding="utf-8", newline="")
    report = verify(path, keys[1])
    assert codes(report) == {"export_sha256", "entry_edited"} and named(report, "entry_edited") == [1]


@pytest.mark.parametrize("edit,expected", [
    (lambda m: m["filters"].update(actor="ai:b"), {"manifest_signature"}),
    (lambda m: m.update(entries=7), {"manifest_signature", "manifest_mismatch"}),
    (lambda m: m["head"].update(seq=14), {"manifest_signature", "head_mismatch"}),
    (lambda m: m["head_checkpoint"].update(ts="2030-01-01T00:00:00.000000Z"), {"manifest_signature", "head_signature"}),
])
def test_tampered_manifest(verify, filtered, keys, edit, expected):
    """Any edit to the manifest breaks its signature; head edits are also named by the head checks."""
    path = filtered("jsonl")
    mpath = sidecar(path, ".manifest.json")
    m = json.loads(mpath.read_text())
    edit(m)
    mpath.write_text(json.dumps(m))
    assert codes(verify(path, keys[1])) == expected


def test_tampered_chain_file(verify, filtered, keys):
    """Removing a line from the chain proof is caught by its SHA-256 and its broken sequence."""
    path = filtered("jsonl")
    cpath = sidecar(path, ".chain")
    cpath.write_text("".join(line for line in cpath.read_text().splitlines(True) if not line.startswith("H 4 ")))
    assert {"chain_sha256", "chain_malformed"} <= codes(verify(path, keys[1]))


@pytest.mark.parametrize("fmt", FORMATS)
def test_chain_recomputed_without_the_private_key(verify, export, trail, keys, fmt):
    """An attacker edits entry 5, recomputes every later hash in the export and the chain proof and
    fixes the manifest's hashes: the signed checkpoints disagree, named chain_recomputed at the
    first seq of the batch holding entry 5 (4..6)."""
    path = export(fmt)
    entries = [e.content() for e in trail.read(1, 100)]
    entries[4]["data"]["n"] = 999
    prev, new_units, hashes = GENESIS, [], []
    for content in entries:
        body = canonical_json({k: content[k] for k in CONTENT_FIELDS})
        digest = entry_hash(prev, body)
        new_units.append((content["seq"], body, prev, digest))
        hashes.append(digest)
        prev = digest
    tamper(path, fmt, lambda _units, kind: [(s, unit(kind, b, p, d)) for s, b, p, d in new_units])
    cpath = sidecar(path, ".chain")
    lines = cpath.read_text().splitlines(True)
    cpath.write_text("".join(f"E {line.split()[1]} {hashes[int(line.split()[1]) - 1]}\n"
                             if line.startswith("E ") else line for line in lines))
    mpath = sidecar(path, ".manifest.json")
    m = json.loads(mpath.read_text())
    m["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    m["chain"]["sha256"] = hashlib.sha256(cpath.read_bytes()).hexdigest()
    if fmt == "csv":
        m["entries_file"]["sha256"] = hashlib.sha256(sidecar(path, ENTRIES_SUFFIX).read_bytes()).hexdigest()
    m["head"]["hash"] = m["head_checkpoint"]["head_hash"] = hashes[-1]
    mpath.write_text(json.dumps(m))
    report = verify(path, keys[1])
    assert named(report, "chain_recomputed")[0] == 4 and report.first_bad_seq == 4
    assert {"manifest_signature", "head_signature"} <= codes(report)
    assert "entry_edited" not in codes(report)  # the forgery is internally consistent


def test_missing_manifest(verify, filtered, keys):
    """Without its manifest an export cannot be verified, and says so."""
    path = filtered("jsonl")
    sidecar(path, ".manifest.json").unlink()
    report = verify(path, keys[1])
    assert codes(report) == {"manifest_unreadable"}
    assert report.verified == () and report.to_dict()["verified"] == []  # a failure claims nothing


@pytest.mark.parametrize("fmt,which", [("jsonl", ""), ("jsonl", ".chain"), ("csv", "")])
def test_binary_file_is_a_finding_not_a_crash(verify, filtered, keys, fmt, which):
    """An export or chain file replaced by bytes that are not text is reported, never a traceback."""
    path = filtered(fmt)
    target = sidecar(path, which) if which else path
    target.write_bytes(b"\xff\xfe\x00garbage")
    report = verify(path, keys[1])
    assert not report.ok and report.verified == ()
    assert "file_not_text" in codes(report)
