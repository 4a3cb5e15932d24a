"""``POST /crm/v3/objects/{type}/search`` for the fake HubSpot, shaped as HubSpot documents it.

Checked: ``filterGroups`` (at most 5, each of 1-6 filters; OR between groups, AND inside one),
operators EQ, IN (``values``), CONTAINS_TOKEN (``value``; a trailing ``*`` is a prefix wildcard),
``properties``, ``limit`` (at most 200), ``after`` paging; at most 10,000 results per query. Search
has its own limit, stricter than the rest of the API: more than ``SEARCH_PER_SECOND`` requests in
one second (by the fake's clock) are answered 429 without rate-limit headers.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakes._hubspot_routes import _obj
from tests.fakes.hubspot_fake import HubSpotError

if TYPE_CHECKING:
    from tests.fakes.hubspot_fake import FakeHubSpot

SEARCH_PER_SECOND = 5
OPERATORS = {"EQ", "IN", "CONTAINS_TOKEN"}


def _bad(message: str) -> HubSpotError:
    return HubSpotError(400, "VALIDATION_ERROR", message)


def _check(payload: Any) -> tuple[list[list[dict[str, Any]]], list[str], int, int]:
    if not isinstance(payload, dict):
        raise _bad("Invalid input JSON")
    groups = payload.get("filterGroups") or []
    if not isinstance(groups, list) or len(groups) > 5:
        raise _bad("at most 5 filterGroups are allowed")
    filters = []
    for g in groups:
        fs = g.get("filters") if isinstance(g, dict) else None
        if not isinstance(fs, list) or not 1 <= len(fs) <= 6:
            raise _bad("each filterGroup needs 1 to 6 filters")
        for f in fs:
            op = f.get("operator") if isinstance(f, dict) else None
            if op not in OPERATORS or not isinstance(f.get("propertyName"), str):
                raise _bad(f"unsupported filter {f!r}")
            if op == "IN" and not (isinstance(f.get("values"), list) and f["values"]):
                raise _bad("IN needs a non-empty values list")
            if op != "IN" and not isinstance(f.get("value"), str):
                raise _bad(f"{op} needs a value")
        filters.append(fs)
    limit = payload.get("limit", 10)
    if not isinstance(limit, int) or not 1 <= limit <= 200:
        raise _bad("limit must be between 1 and 200")
    after = int(payload.get("after") or 0)
    props = payload.get("properties") or []
    return filters, list(props), limit, after


def _hit(value: Any, f: dict[str, Any]) -> bool:
    if not isinstance(value, str) or not value:
        return False
    text = value.casefold()
    if f["operator"] == "EQ":
        return text == f["value"].casefold()
    if f["operator"] == "IN":
        return text in {str(v).casefold() for v in f["values"]}
    want = f["value"].casefold()
    tokens = [text, *text.split()]
    if want.endswith("*"):
        return any(t.startswith(want[:-1]) for t in tokens)
    return want in tokens


def search(fake: "FakeHubSpot", object: str, payload: Any) -> tuple[int, Any]:
    now = fake.clock()
    recent = [t for t in fake.search_times if t > now - 1.0]
    if len(recent) >= SEARCH_PER_SECOND:
        raise HubSpotError(429, "RATE_LIMITS", "You have reached your secondly limit.",
                           errorType="RATE_LIMIT", policyName="SECONDLY")
    fake.search_times.append(now)
    groups, props, limit, after = _check(payload)
    fake.searches.append({"object": object, "body": payload})
    recs = sorted(fake._recs[object].values(), key=lambda r: int(r.id))
    found = [r for r in recs if any(all(_hit(r.props.get(f["propertyName"]), f) for f in g) for g in groups)][:10_000]
    page = found[after:after + limit]
    out: dict[str, Any] = {"total": len(found), "results": [_obj(fake, r, props) for r in page]}
    if after + limit < len(found):
        out["paging"] = {"next": {"after": str(after + limit)}}
    return 200, out
