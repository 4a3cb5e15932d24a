"""Finding records by the External ID ``idempotency_field``: one SOQL query per 200 keys.

Reconcile asks which creates landed when their answers were lost; an upsert key makes that a
lookup instead of a guess. Keys are quoted for SOQL (backslash and single quote escaped).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from crmgate.adapters.base import Record
from crmgate.adapters.errors import ResponseError
from crmgate.adapters.salesforce.results import key_value

QUERY_KEYS = 200  # keeps the query string well under Salesforce's 100,000-character SOQL limit


def soql_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def find_by_key(call: Callable[[str], Any], to_record: Callable[[Any], Record], object: str, field: str,
                fields: Sequence[str], keys: Sequence[str]) -> dict[str, Record]:
    """``call(soql)`` runs one query (retried by the caller) and returns its body; key -> record."""
    wanted = list(dict.fromkeys(keys))
    names = ", ".join(dict.fromkeys([*fields, field]))
    found: dict[str, Record] = {}
    for start in range(0, len(wanted), QUERY_KEYS):
        chunk = wanted[start:start + QUERY_KEYS]
        body = call(f"SELECT {names} FROM {object} WHERE {field} IN ({', '.join(map(soql_quote, chunk))})")
        rows = body.get("records") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise ResponseError(f"query {object}: expected an object with a records list")
        for row in rows:
            if isinstance(row, dict) and isinstance(row.get(field), str):
                found[row[field]] = to_record(row)
    return found


def find_created(adapter: Any, object: str, keys: Sequence[str], system: Sequence[str]) -> dict[str, Record] | None:
    """The Salesforce adapter's ``find_created``: None without ``idempotency_field``; key -> record."""
    adapter._check_object(object)
    idem = adapter.settings.idempotency_field
    if not idem:
        return None
    sent = {key_value(k): k for k in keys}  # keys over 80 characters are stored hashed
    skip = frozenset({*system, "attributes", idem})
    found = find_by_key(lambda q: adapter._retrying(lambda: adapter._call("GET", "query", params={"q": q})[0]),
                        lambda row: adapter._to_record(object, row, skip), object, idem,
                        adapter.read_fields(object), list(sent))
    return {sent[v]: rec for v, rec in found.items() if v in sent}
