"""The duplicate guard's candidate query as SOQL: exact keys in IN clauses, fuzzy keys as prefix LIKEs.

Text comparisons in SOQL ignore case, so ``Email IN ('ann@acme.io')`` finds ``Ann@Acme.io``. One
statement per object per batch; only a statement that would pass Salesforce's 100,000-character
limit is split in two (a batch of a few hundred creates stays far below it).
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from crmgate.adapters.base import Record
from crmgate.adapters.errors import ResponseError

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
MAX_CHARS = 90_000  # below the documented 100,000, for the URL around it


def quote(value: str, *, like: bool = False) -> str:
    text = value.replace("\\", "\\\\").replace("'", "\\'")
    if like:
        text = text.replace("%", "\\%").replace("_", "\\_")
    return text


def conditions(keys: Mapping[str, Sequence[str]], prefixes: Mapping[str, Sequence[str]]) -> list[str]:
    out = []
    for field, values in keys.items():
        vals = sorted({v for v in values if isinstance(v, str) and v})
        if vals and _NAME.match(field):
            out.append(f"{field} IN ({', '.join(repr_(v) for v in vals)})")
    for field, starts in prefixes.items():
        if _NAME.match(field):
            out += [f"{field} LIKE '{quote(p, like=True)}%'" for p in sorted({p for p in starts if isinstance(p, str) and p})]
    return out


def repr_(value: str) -> str:
    return f"'{quote(value)}'"


def candidate_soql(object: str, fields: Sequence[str], keys: Mapping[str, Sequence[str]],
                   prefixes: Mapping[str, Sequence[str]], limit: int) -> Iterator[str]:
    """The SELECT statement(s) for one object's candidates (usually exactly one)."""
    head = f"SELECT {', '.join(fields)} FROM {object} WHERE "
    tail = f" LIMIT {limit}"
    conds = conditions(keys, prefixes)
    part: list[str] = []
    size = len(head) + len(tail)
    for c in conds:
        if part and size + len(c) + 4 > MAX_CHARS:
            yield head + " OR ".join(part) + tail
            part, size = [], len(head) + len(tail)
        part.append(c)
        size += len(c) + 4
    if part:
        yield head + " OR ".join(part) + tail


def find_candidates(adapter: Any, object: str, keys: Mapping[str, Sequence[str]],
                    prefixes: Mapping[str, Sequence[str]]) -> list[Record]:
    """The SalesforceAdapter's ``find_candidates`` (``adapter`` is that adapter; the adapter module
    imports this one): ONE ``GET query?q=`` per object, pages followed up to ``max_candidates``."""
    adapter._check_object(object)
    fields = list(adapter.read_fields(object))
    skip = frozenset({"Id", "SystemModstamp", "LastModifiedDate", "LastModifiedById", "CreatedDate",
                      "CreatedById", "attributes", adapter.settings.idempotency_field})
    out: dict[str, Record] = {}
    for statement in candidate_soql(object, fields, keys, prefixes, adapter.max_candidates):
        body, _ = adapter._retrying(lambda q=statement: adapter._call("GET", "query", params={"q": q}))
        while True:
            if not isinstance(body, Mapping) or not isinstance(body.get("records"), list):
                raise ResponseError(f"query {object}: expected an object with a records list")
            for row in body["records"]:
                rec = adapter._to_record(object, row, skip)
                out[rec.id] = rec
            nxt = body.get("nextRecordsUrl")
            if body.get("done", True) or not isinstance(nxt, str) or len(out) >= adapter.max_candidates:
                break
            path = nxt.split(f"/v{adapter.settings.api_version}/", 1)[-1]
            body, _ = adapter._retrying(lambda p=path: adapter._call("GET", p))
    return list(out.values())[: adapter.max_candidates]
