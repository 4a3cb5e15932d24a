"""Duplicate candidates through HubSpot's CRM search (``POST /crm/v3/objects/{type}/search``).

Exact keys become ``IN`` filters (up to 100 values each), prefixes ``CONTAINS_TOKEN`` filters with a
trailing ``*``; each filter is its own filter group (groups are ORed), sorted by property and packed
five groups to a request, the API's maximum. Pages of 200 are followed with ``after`` up to
``max_candidates``. Search has its own, lower limit (about 4 requests per second, no rate-limit
headers), so every search request also spends a hit of a 4-per-second window of its own (in the
adapter's budget, so shared like the general one, and held ``margin`` longer), on top of the general one. Records written seconds ago may not be searchable yet (HubSpot indexes
asynchronously): the guard also compares creates within one batch, which covers the usual case.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hubspot.crm.objects import SearchApi

from crmgate.adapters.base import Record
from crmgate.adapters.hubspot.records import results_of, version_property

MAX_GROUPS, MAX_IN_VALUES, PAGE = 5, 100, 200
SEARCH_RATE = (4, 1.0)


def search_filters(keys: Mapping[str, Sequence[str]], prefixes: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """The filters, by property: IN for exact values, CONTAINS_TOKEN ``prefix*`` for prefixes."""
    out: list[dict[str, Any]] = []
    for prop in sorted(set(keys) | set(prefixes)):
        values = sorted({v for v in keys.get(prop, ()) if isinstance(v, str) and v})
        for i in range(0, len(values), MAX_IN_VALUES):
            out.append({"propertyName": prop, "operator": "IN", "values": values[i:i + MAX_IN_VALUES]})
        # a token has no spaces: a prefix with one cannot be asked this way
        out += [{"propertyName": prop, "operator": "CONTAINS_TOKEN", "value": f"{p}*"}
                for p in sorted({p for p in prefixes.get(prop, ()) if isinstance(p, str) and p and not p.split()[1:]})]
    return out


def find_candidates(adapter: Any, object: str, keys: Mapping[str, Sequence[str]],
                    prefixes: Mapping[str, Sequence[str]]) -> list[Record]:
    """The candidates of ``object`` (see the module docstring); ``adapter`` is the HubSpotAdapter
    this function is the method of (not imported here: the adapter module imports this one)."""
    adapter._check_object(object)
    api = adapter.__dict__.get("_search_api")
    if api is None:
        api = adapter.__dict__["_search_api"] = SearchApi(api_client=adapter._batch.api_client)
    calls = adapter.calls
    props = list(dict.fromkeys([*adapter._read_props[object], version_property(object), *adapter._hidden]))
    filters = search_filters(keys, prefixes)
    found: dict[str, Record] = {}
    for start in range(0, len(filters), MAX_GROUPS):
        groups = [{"filters": [f]} for f in filters[start:start + MAX_GROUPS]]
        after: str | None = None
        while len(found) < adapter.max_candidates:
            body: dict[str, Any] = {"filterGroups": groups, "properties": props, "limit": PAGE}
            if after:
                body["after"] = after
            calls.acquire(f"{calls.key}:search", SEARCH_RATE[0], SEARCH_RATE[1] + calls.margin)
            resp = adapter._call(api.do_search, object, body)
            for obj in results_of(resp):
                rec = adapter._record(object, obj)
                found[rec.id] = rec
            nxt = ((resp or {}).get("paging") or {}).get("next") or {}
            after = nxt.get("after") if isinstance(nxt, Mapping) else None
            if not after:
                break
    return list(found.values())[: adapter.max_candidates]
