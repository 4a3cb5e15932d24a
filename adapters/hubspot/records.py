"""HubSpot property values to and from crmgate records.

HubSpot stores every property value as a string and clears a property with ``""``. crmgate fields
are JSON scalars, so writes encode (``None`` -> ``""``, ``True`` -> ``"true"``, ``48000.5`` ->
``"48000.5"``) and reads decode: blanks disappear from ``fields`` and the configured number
properties (``amount``...) come back as numbers, so a rollback compares ``50000`` with ``50000``
rather than with ``"50000"``. System properties (ids, create/modify stamps, the idempotency key)
go to ``Record.meta``, never to ``fields``.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from crmgate.adapters.base import Record
from crmgate.adapters.errors import RecordError, ResponseError

OBJECTS = ("contacts", "companies", "deals")
#: HubSpot's last-modified stamp: ``lastmodifieddate`` on contacts, ``hs_lastmodifieddate`` elsewhere
VERSION_PROPERTY = {"contacts": "lastmodifieddate"}
DEFAULT_VERSION_PROPERTY = "hs_lastmodifieddate"
SYSTEM_PROPERTIES = frozenset({
    "hs_object_id", "createdate", "hs_createdate", "lastmodifieddate", "hs_lastmodifieddate",
    "hs_all_owner_ids", "hs_updated_by_user_id", "hs_created_by_user_id",
})
#: properties read by default (HubSpot returns only a few unless asked); extend with ``properties``
DEFAULT_PROPERTIES: dict[str, tuple[str, ...]] = {
    "contacts": ("email", "firstname", "lastname", "phone", "mobilephone", "company", "jobtitle",
                 "website", "address", "city", "state", "zip", "country", "lifecyclestage",
                 "hs_lead_status", "hubspot_owner_id", "industry", "annualrevenue"),
    "companies": ("name", "domain", "website", "industry", "phone", "address", "city", "state", "zip",
                  "country", "numberofemployees", "annualrevenue", "description", "lifecyclestage",
                  "type", "hubspot_owner_id"),
    "deals": ("dealname", "dealstage", "pipeline", "amount", "closedate", "dealtype", "description",
              "hubspot_owner_id", "hs_priority", "hs_forecast_category", "hs_next_step",
              "hs_deal_stage_probability"),
}
DEFAULT_NUMBER_PROPERTIES: dict[str, tuple[str, ...]] = {
    "contacts": ("annualrevenue",),
    "companies": ("numberofemployees", "annualrevenue"),
    "deals": ("amount", "hs_deal_stage_probability"),
}


def version_property(object: str) -> str:
    return VERSION_PROPERTY.get(object, DEFAULT_VERSION_PROPERTY)


def encode(fields: Mapping[str, Any], system: Iterable[str] = ()) -> dict[str, str] | RecordError:
    """crmgate fields as HubSpot property strings, or the error that fails this one record."""
    blocked = SYSTEM_PROPERTIES | set(system)
    out: dict[str, str] = {}
    for name, value in fields.items():
        if not isinstance(name, str) or not name:
            return RecordError("INVALID_PROPERTY", f"bad property name {name!r}", status=400)
        if name in blocked:
            return RecordError("READ_ONLY_VALUE", f"{name} is maintained by HubSpot or crmgate",
                               status=400, fields=(name,))
        if value is None:
            out[name] = ""
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, int):
            out[name] = str(value)
        elif isinstance(value, float) and math.isfinite(value):
            out[name] = repr(value)
        elif isinstance(value, str):
            out[name] = value
        else:
            return RecordError("INVALID_TYPE", f"{name}: {type(value).__name__} is not a JSON scalar",
                               status=400, fields=(name,))
    return out


def decode_value(name: str, value: Any, numbers: frozenset[str]) -> Any:
    if name not in numbers or not isinstance(value, str):
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    if not math.isfinite(number):
        return value
    return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number


def stamp(value: Any) -> str | None:
    """A HubSpot timestamp (ISO string, datetime or epoch ms) as ISO-8601 UTC with milliseconds."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    elif isinstance(value, str) and value.isdigit():
        moment = datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    else:
        return str(value)
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def to_record(object: str, obj: Any, *, numbers: frozenset[str], hidden: frozenset[str]) -> Record:
    """An SDK ``SimplePublicObject`` (or a dict shaped like one) as a :class:`Record`."""
    get = obj.get if isinstance(obj, Mapping) else (lambda k, d=None: getattr(obj, k, d))
    props: Mapping[str, Any] = get("properties") or {}
    fields = {name: decode_value(name, value, numbers) for name, value in props.items()
              if name not in SYSTEM_PROPERTIES and name not in hidden and value not in (None, "")}
    updated = get("updated_at") or get("updatedAt")
    version = stamp(props.get(version_property(object))) or stamp(updated) or ""
    meta = {name: props[name] for name in sorted(SYSTEM_PROPERTIES | hidden)
            if props.get(name) not in (None, "")}
    meta["updatedAt"] = stamp(updated)
    return Record(object=object, id=str(get("id")), fields=fields, version=version, meta=meta)


def json_of(raw: Any) -> Any:
    """The JSON body of a raw urllib3 response (None when empty); garbage raises ValueError."""
    try:
        data = raw.data
    finally:
        raw.release_conn()
    if not data or not data.strip():
        return None
    return json.loads(data)


def results_of(resp: Any) -> list[dict[str, Any]]:
    """A batch answer's ``results``, refused as a ResponseError unless it is a list of objects with ids."""
    results = resp.get("results") if isinstance(resp, dict) else None
    if resp is not None and not isinstance(resp, dict):
        raise ResponseError("HubSpot answered a batch call with something other than an object",
                            code="malformed_response")
    if results is None:
        return []
    if not isinstance(results, list) or not all(
            isinstance(o, dict) and o.get("id") and isinstance(o.get("properties"), dict) for o in results):
        raise ResponseError("HubSpot answered a batch call with unreadable results", code="malformed_response")
    return results


def errors_of(resp: Any) -> list[dict[str, Any]]:
    """A 207's ``errors[]`` (entries that are not objects are ignored)."""
    errors = resp.get("errors") if isinstance(resp, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
