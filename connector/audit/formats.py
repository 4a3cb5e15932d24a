"""What one exported entry looks like in JSONL and in CSV (shared by the exporter and the verifier).

JSONL: one JSON object per line per entry: the entry's content exactly as it was hashed (``seq``,
``ts``, ``kind``, the id fields, ``data``) plus ``prev_hash`` and ``hash``. The canonical JSON of the
content fields (``crmgate.trail.canonical_json``) is the hashed body.

CSV (``CSV_COLUMNS``): ``status`` is the final status of the entry's change, folded from the
exported entries (:mod:`crmgate.audit.lifecycle`); ``step`` is the entry's own ``data.status``
(``applying``, ``ok``...). One row per field change, taken from ``data.changes`` (write and rollback
intents, approvals) or else ``data.decision.changes`` (decisions); an entry without field changes
gets one row with the field columns empty. Values that are not strings are written as JSON
(``null`` as an empty cell). Every row repeats the entry's ``hash`` and ``prev_hash``; the FIRST row of
an entry also carries ``body``, the exact text that was hashed, so the rows can be regenerated and
checked. Spreadsheet safety: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is prefixed with ``'`` so no spreadsheet evaluates it as a formula (``-5`` reads ``'-5``).
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from crmgate.trail.canonical import canonical_json
from crmgate.trail.records import CONTENT_FIELDS

CSV_COLUMNS: tuple[str, ...] = (
    "seq", "ts", "kind", "actor", "use_case", "object", "record_id", "op", "proposal_id", "batch_id",
    "change_id", "status", "step", "field", "before", "after", "hash", "prev_hash", "body",
)
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """Return ``cell`` prefixed with ``'`` when a spreadsheet would read it as a formula."""
    return "'" + cell if cell.startswith(_DANGEROUS) else cell


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return neutralise(text)


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


def csv_rows(body: str, prev_hash: str, digest: str,
             final: Mapping[str, str] | None = None) -> list[list[str]]:
    """Return the CSV rows (lists of cells, neutralised) for one entry given its stored ``body``;
    ``final`` maps change ids to their final status (the ``status`` column; else the step)."""
    content = json.loads(body)
    data = content.get("data") if isinstance(content.get("data"), Mapping) else {}
    step = data.get("status")
    status = (final or {}).get(content.get("change_id") or "", step)
    head = [_cell(content.get(name)) for name in CSV_COLUMNS[:11]] + [_cell(status), _cell(step)]
    changes = field_changes(content) or [{}]
    rows = []
    for i, change in enumerate(changes):
        rows.append(head + [_cell(change.get("field")), _cell(change.get("before")),
                            _cell(change.get("after")), digest, prev_hash, body if i == 0 else ""])
    return rows


def csv_text(rows: list[list[str]]) -> str:
    """Return ``rows`` encoded as CSV text (RFC 4180 quoting, ``\\r\\n`` line ends)."""
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue()


def canonical_body(content: Mapping[str, Any]) -> str:
    """Return the hashed body for ``content`` (the canonical JSON of the content fields)."""
    return canonical_json({name: content.get(name) for name in CONTENT_FIELDS})
