"""What one exported entry looks like in JSONL and in CSV (shared by the exporter and the verifier).

JSONL: one JSON object per line per entry: the entry's content exactly as it was hashed (``seq``,
``ts``, ``kind``, the id fields, ``data``) plus ``prev_hash`` and ``hash``. The canonical JSON of the
content fields (``crmgate.trail.canonical_json``) is the hashed body, and the line is that body with
the two hashes added before its closing brace (:func:`jsonl_line`).

CSV (``CSV_COLUMNS``, CSV format 3): one row per field change, taken from ``data.changes`` (write
and rollback intents, approvals) or else ``data.decision.changes`` (decisions); an entry without
field changes gets one row with the field columns empty, so every entry has a row. A row holds
what an auditor reads per change and nothing of the entry twice: ``seq``, ``ts``, ``kind``,
``actor``, ``object``, ``record_id``, ``proposal_id``, ``change_id``, ``status`` (the change's
status after this entry, :func:`crmgate.audit.lifecycle.entry_status`: read from the entry alone,
so neither side keeps a map of changes), ``field``/``before``/``after`` and the entry's ``hash``.
The hashed entries travel beside it as ``PATH.entries.jsonl`` (the JSONL format above), which the
offline verifier checks against the chain and renders into rows again
(:func:`csv_entry_text`), comparing them with the CSV byte for byte.

Values that are not strings are written as JSON (``null`` as an empty cell). Spreadsheet safety: a
cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'`` so no
spreadsheet evaluates it as a formula (``-5`` reads ``'-5``). Quoting is the ``csv`` module's
(RFC 4180, ``\\r\\n`` line ends); rows that need none are joined directly, which is the same text.

Older CSV formats (17 columns with the change's final status; format 1 with ``prev_hash`` and
``body``) are read by :mod:`crmgate.audit.legacy`, so those exports still verify.
"""
from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

import orjson

from crmgate.audit.lifecycle import entry_status
from crmgate.trail.canonical import canonical_json
from crmgate.trail.records import CONTENT_FIELDS

CSV_COLUMNS: tuple[str, ...] = (
    "seq", "ts", "kind", "actor", "object", "record_id", "proposal_id", "change_id", "status",
    "field", "before", "after", "hash",
)
#: the CSV export's companion file of hashed entries: ``PATH`` + this suffix
ENTRIES_SUFFIX = ".entries.jsonl"
_IDS = ("ts", "kind", "actor", "object", "record_id", "proposal_id", "change_id")
_HEAD = itemgetter(*_IDS)
_FIELD = itemgetter("field", "before", "after")
_STR_INT = frozenset((str, int))
_INTENTS = ("write.intent", "rollback.intent")
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_FIRST = frozenset(_DANGEROUS)
_FORMULA_AFTER_COMMA = re.compile(",[=+\\-@\t\r]").search


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


def cell(value: Any) -> str:
    """Return one CSV cell for ``value``: a string as it is, ``None`` empty, anything else as JSON;
    neutralised (:func:`neutralise`)."""
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


def _plain(value: Any) -> str:
    """A cell's text before neutralising: a string as it is, ``None`` empty, anything else as JSON."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    if type(value) is int:  # what json.dumps writes for an int, without its encoder (a hot path)
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def csv_entry_rows(content: Mapping[str, Any], digest: str) -> list[list[str]]:
    """Return the CSV rows (lists of cells, neutralised) of one entry's parsed ``content``."""
    head = [cell(v) for v in (content.get("seq"), *map(content.get, _IDS), entry_status(content))]
    return [[*head, cell(c.get("field")), cell(c.get("before")), cell(c.get("after")), cell(digest)]
            for c in field_changes(content) or [{}]]


def csv_entry(content: Mapping[str, Any], digest: str) -> tuple[str, int]:
    """Return one entry's CSV text and its number of rows: :func:`csv_entry_rows` exactly as
    ``csv.writer`` writes them (``\\r\\n`` after each row). The usual entry (a dict of the content
    fields, string ids and status, field changes as dicts with all three keys) whose cells need no
    quoting and no ``'`` is joined by hand: the writer scanning every cell of every row, and the
    cells built one by one, were most of a CSV export's time. Any other goes through the csv module."""
    try:
        seq = content["seq"]
        status = "unresolved" if content["kind"] in _INTENTS else entry_status(content)
        if type(seq) is int and type(status) is str:
            head = f"{seq},{','.join(_HEAD(content))},{status},"  # join: TypeError unless every id is a string
            data = content["data"]
            changes = data.get("changes")
            if type(changes) is not list:
                decision = data.get("decision")
                changes = decision.get("changes") if type(decision) is dict else None
            if type(changes) is list and changes:
                tails = [f"{field},{before},{after}"  # an int's f-string is its JSON
                         if type(field) is str and type(before) in _STR_INT and type(after) in _STR_INT else
                         f"{_plain(field)},{_plain(before)},{_plain(after)}"
                         for field, before, after in map(_FIELD, changes)]
            else:
                tails = [",,"]
            n = len(tails)
            cells = ",".join([head, *tails, digest])
            # one cell per comma, none holding a quote or a line break (the only characters
            # ``csv.writer`` quotes for, besides the comma), none starting with a formula character
            if (cells.count(",") == 10 + 3 * n and '"' not in cells and "\n" not in cells and "\r" not in cells
                    and cells[:1] not in _FIRST and _FORMULA_AFTER_COMMA(cells) is None):
                end = f",{digest}\r\n"
                return head + (end + head).join(tails) + end, n
    except (KeyError, TypeError, AttributeError):  # not the usual shape: the csv module renders it
        pass
    rows = csv_entry_rows(content, digest)
    return csv_text(rows), len(rows)


def csv_text(rows: list[list[str]]) -> str:
    """Return ``rows`` encoded as CSV text (RFC 4180 quoting, ``\\r\\n`` line ends)."""
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue()


def canonical_body(content: Mapping[str, Any]) -> str:
    """Return the hashed body for ``content`` (the canonical JSON of the content fields)."""
    return canonical_json({name: content.get(name) for name in CONTENT_FIELDS})
