"""Reading CSV exports of the formats before CSV format 3, so they still verify.

* Format 2 (``CSV_COLUMNS_V2``, 17 columns): the hashed entries beside it in ``PATH.entries.jsonl``
  as today, and a ``status`` column holding each change's FINAL status (folded from every exported
  entry, :class:`crmgate.audit.lifecycle.StatusFold`) besides ``step``, the entry's own status.
  :func:`v2_renderer` folds the entries file first (one status per change in memory: these older
  exports are the one case where verifying does not run in flat memory) and renders the rows again.
* Format 1 (``CSV_COLUMNS_V1``): format 2's columns plus ``prev_hash`` on every row and ``body``,
  the hashed text, on the first row of each entry. :func:`v1_items` reads such a file back as
  entries for the offline verifier (:mod:`crmgate.audit.verify_export`): each entry's hash is
  recomputed from its body cell and its rows are rendered again from that body and compared cell
  by cell, as format 1 promised.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from crmgate.audit.formats import cell, csv_text, field_changes, loads
from crmgate.audit.lifecycle import StatusFold

CSV_COLUMNS_V2: tuple[str, ...] = (
    "seq", "ts", "kind", "actor", "use_case", "object", "record_id", "op", "proposal_id", "batch_id",
    "change_id", "status", "step", "field", "before", "after", "hash",
)
CSV_COLUMNS_V1: tuple[str, ...] = (*CSV_COLUMNS_V2, "prev_hash", "body")
#: the header line of each older format, as the ``csv`` module writes it
HEADERS = {2: csv_text([list(CSV_COLUMNS_V2)]), 1: csv_text([list(CSV_COLUMNS_V1)])}
_IDS = CSV_COLUMNS_V2[:11]


def csv_rows_v2(content: Mapping[str, Any], digest: str, final: Mapping[str, str] | None = None) -> list[list[str]]:
    """Return an entry's rows in CSV format 2 for its parsed ``content``; ``final`` maps change ids
    to their final status (the ``status`` column; else the step)."""
    data = content.get("data") if isinstance(content.get("data"), Mapping) else {}
    step = data.get("status")
    status = (final or {}).get(content.get("change_id") or "", step)
    head = [cell(v) for v in map(content.get, _IDS)] + [cell(status), cell(step)]
    return [[*head, *[cell(c.get(name)) for name in ("field", "before", "after")], digest]
            for c in field_changes(content) or [{}]]


def csv_rows_v1(body: str, prev_hash: str, digest: str,
                final: Mapping[str, str] | None = None) -> list[list[str]]:
    """Return an entry's rows in CSV format 1 (``CSV_COLUMNS_V1``) given its stored ``body``."""
    rows = csv_rows_v2(json.loads(body), digest, final)
    return [row + [prev_hash, body if i == 0 else ""] for i, row in enumerate(rows)]


def v2_renderer(entries: Path) -> Callable[[Mapping[str, Any], str], tuple[str, int]]:
    """Return ``render(content, hash)``: an entry's text in format 2 and its number of rows, with
    the final statuses folded from the entries file at ``entries``."""
    fold = StatusFold()
    with open(entries, encoding="utf-8", newline="") as fh:
        for line in fh:
            try:
                content = loads(line)
            except ValueError:
                continue  # reported by the walk, which reads the same line
            if isinstance(content, dict):
                fold.feed(content)
    final = fold.status
    def render(content: Mapping[str, Any], digest: str) -> tuple[str, int]:
        rows = csv_rows_v2(content, digest, final)
        return csv_text(rows), len(rows)
    return render


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
