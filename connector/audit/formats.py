"""What one exported entry looks like in JSONL and in CSV (shared by the exporter and the verifier).

JSONL: one JSON object per line per entry: the entry's content exactly as it was hashed (``seq``,
``ts``, ``kind``, the id fields, ``data``) plus ``prev_hash`` and ``hash``. The canonical JSON of the
content fields (``crmgate.trail.canonical_json``) is the hashed body, and the line is that body with
the two hashes added before its closing brace (:func:`jsonl_line`).

CSV (``CSV_COLUMNS``, export format 2): one row per field change, taken from ``data.changes``
(write and rollback intents, approvals) or else ``data.decision.changes`` (decisions); an entry
without field changes gets one row with the field columns empty, so every entry has a row. Each
row carries the entry's ``seq``, its id columns, ``status`` (the final status of the entry's change,
folded from the exported entries, :mod:`crmgate.audit.lifecycle`), ``step`` (the entry's own
``data.status``), ``field``/``before``/``after`` and the entry's ``hash``. The hashed entries travel
beside it as ``PATH.entries.jsonl`` (the JSONL format above), which the offline verifier checks
against the chain and renders into rows again, comparing them with the CSV byte for byte.

Values that are not strings are written as JSON (``null`` as an empty cell). Spreadsheet safety: a
cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'`` so no
spreadsheet evaluates it as a formula (``-5`` reads ``'-5``).

CSV format 1 (``CSV_COLUMNS_V1``, exports made before format 2) also had ``prev_hash`` on every row
and ``body`` (the hashed text) on the first row of each entry; :func:`csv_rows_v1` renders it so
those exports still verify.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

import orjson

from crmgate.trail.canonical import canonical_json
from crmgate.trail.records import CONTENT_FIELDS

CSV_COLUMNS: tuple[str, ...] = (
    "seq", "ts", "kind", "actor", "use_case", "object", "record_id", "op", "proposal_id", "batch_id",
    "change_id", "status", "step", "field", "before", "after", "hash",
)
CSV_COLUMNS_V1: tuple[str, ...] = (*CSV_COLUMNS, "prev_hash", "body")
#: the CSV export's companion file of hashed entries: ``PATH`` + this suffix
ENTRIES_SUFFIX = ".entries.jsonl"
_IDS = CSV_COLUMNS[:11]
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_FIRST = frozenset(_DANGEROUS)


def loads(text: str | bytes) -> Any:
    """Parse JSON text: orjson (fast) and, where it refuses what ``json`` reads (NaN, lone
    surrogates), the standard library, so both sides of an export read the same values."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def neutralise(cell: str) -> str:
    """Return ``cell`` prefixed with ``'`` when a spreadsheet would read it as a formula."""
    return "'" + cell if cell.startswith(_DANGEROUS) else cell


def _cell(value: Any) -> str:
    kind = type(value)
    if kind is str:
        text = value
    elif value is None:
        return ""
    elif kind is int:  # what json.dumps writes for an int, without its encoder (a hot path)
        text = str(value)
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "'" + text if text[:1] in _FIRST else text


def jsonl_line(body: str, prev_hash: str, digest: str) -> str:
    """Return the JSONL line for a stored ``body`` (canonical JSON object) and its hashes, no newline."""
    return f'{body[:-1]},"prev_hash":"{prev_hash}","hash":"{digest}"}}'


def content_of(line: Mapping[str, Any]) -> dict[str, Any]:
    """Return the hashed content fields of a parsed JSONL line (``data`` defaults to {})."""
    out = {name: line.get(name) for name in CONTENT_FIELDS}
    if out["data"] is None:
        out["data"] = {}
    return out


def field_changes(content: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Return the entry's field changes (``[{field, before, after}]``), as the CSV rows list them."""
    data = content.get("data")
    if not isinstance(data, Mapping):
        return []
    changes = data.get("changes")
    if not isinstance(changes, list):
        decision = data.get("decision")
        changes = decision.get("changes") if isinstance(decision, Mapping) else None
    if not isinstance(changes, list):
        return []
    return [c for c in changes if isinstance(c, Mapping)]


def _head(content: Mapping[str, Any], final: Mapping[str, str] | None) -> list[str]:
    data = content.get("data") if isinstance(content.get("data"), Mapping) else {}
    step = data.get("status")
    status = (final or {}).get(content.get("change_id") or "", step)
    # a plain string that no spreadsheet reads as a formula is its own cell (most cells: no call)
    return [v if type(v) is str and v[:1] not in _FIRST else _cell(v) for v in map(content.get, _IDS)] + [
        _cell(status), _cell(step)]


def csv_rows(content: Mapping[str, Any], digest: str, final: Mapping[str, str] | None = None) -> list[list[str]]:
    """Return the CSV rows (lists of cells, neutralised) for one entry's parsed ``content``;
    ``final`` maps change ids to their final status (the ``status`` column; else the step)."""
    head = _head(content, final)
    return [[*head, *[v if type(v) is str and v[:1] not in _FIRST else _cell(v)
                      for v in (c.get("field"), c.get("before"), c.get("after"))], digest]
            for c in field_changes(content) or [{}]]


def csv_rows_v1(body: str, prev_hash: str, digest: str,
                final: Mapping[str, str] | None = None) -> list[list[str]]:
    """Return an entry's rows in CSV format 1 (``CSV_COLUMNS_V1``) given its stored ``body``."""
    rows = csv_rows(json.loads(body), digest, final)
    return [row + [prev_hash, body if i == 0 else ""] for i, row in enumerate(rows)]


def csv_text(rows: list[list[str]]) -> str:
    """Return ``rows`` encoded as CSV text (RFC 4180 quoting, ``\\r\\n`` line ends)."""
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue()


def canonical_body(content: Mapping[str, Any]) -> str:
    """Return the hashed body for ``content`` (the canonical JSON of the content fields)."""
    return canonical_json({name: content.get(name) for name in CONTENT_FIELDS})
