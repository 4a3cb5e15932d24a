"""Export verification edge cases found by mutation testing."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from crmgate.audit.verify_export import verify_export


def test_the_format_falls_back_to_the_file_suffix(export, keys):
    """A manifest that no longer names the format: a .csv export is still read as CSV (and the
    edited manifest fails its signature)."""
    path = export("csv")
    manifest = path.with_name(path.name + ".manifest.json")
    data = json.loads(manifest.read_text(encoding="utf-8"))
    del data["file_format"]
    manifest.write_text(json.dumps(data), encoding="utf-8")
    report = verify_export(path, keys[1])
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
