"""Reading CSV exports of format 1 (before the CSV's hashed entries moved to ``PATH.entries.jsonl``).

Format 1 (``CSV_COLUMNS_V1``) carried ``prev_hash`` on every row and ``body``, the hashed text, on
the first row of each entry. :func:`v1_items` reads such a file back as entries for the offline
verifier (:mod:`crmgate.audit.verify_export`): each entry's hash is recomputed from its body cell and
its rows are rendered again from that body and compared cell by cell, as format 1 promised.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from crmgate.audit.formats import CSV_COLUMNS_V1, csv_rows_v1
from crmgate.audit.lifecycle import StatusFold


def _final(path: Path) -> dict[str, str]:
    """The final status of each change, folded from the bodies in the file (the ``status`` column)."""
    fold = StatusFold()
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh):
            try:
                if len(row) == len(CSV_COLUMNS_V1) and row[-1]:
                    fold.feed(json.loads(row[-1]))
            except (ValueError, TypeError, AttributeError):
                continue  # reported by the walk, which reads the same cell
    return fold.status


def v1_items(path: Path, item: Callable[..., Any]) -> Iterator[Any]:
    """Yield ``item(seq, body, prev_hash, hash, error=..., edited=...)`` per entry of a format-1 CSV
    (the header already checked)."""
    final = _final(path)
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        group: list[list[str]] = []
        for row in reader:
            if group and row[:1] != group[0][:1]:
                yield _entry(group, final, item)
                group = []
            group.append(row)
        if group:
            yield _entry(group, final, item)


def _entry(rows: list[list[str]], final: dict[str, str], item: Callable[..., Any]) -> Any:
    first = rows[0]
    if len(first) != len(CSV_COLUMNS_V1):
        return item(-1, error=f"a row for seq {first[:1]} has {len(first)} cells")
    body, prev, digest = first[-1], first[-2], first[-3]  # columns: ..., hash, prev_hash, body
    try:
        seq = json.loads(body)["seq"]
        if not isinstance(seq, int):
            raise TypeError("seq")
        expected = csv_rows_v1(body, prev, digest, final)
    except (ValueError, TypeError, KeyError):
        return item(-1, error=f"the body cell of the entry at seq cell {first[0]!r} cannot be read")
    edited = None if expected == rows else "its rows disagree with its hashed body (a cell was changed)"
    return item(seq, body, prev, digest, edited=edited)
