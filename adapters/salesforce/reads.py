"""Reading records: which fields a retrieve asks for, and the answer as :class:`Record` values.

A before-image needs the version (``SystemModstamp``) and the fields a decision may look at, not
every field of the object: a Lead has about 40 writable fields, and every one of them is
serialised by Salesforce, parsed here and (for before-images) stored in the trail. So
``get_many(..., fields=names)`` reads ``Id``, ``SystemModstamp`` and those of ``names`` that the
object can be read with (configured ``crm.fields``, else the writable describe fields), and no
display-only system fields (``Record.meta`` stays empty); ``fields=None`` reads all of those.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from crmgate.adapters.base import Record
from crmgate.adapters.errors import ResponseError

SYSTEM_FIELDS = ("Id", "SystemModstamp", "LastModifiedDate", "LastModifiedById", "CreatedDate", "CreatedById")
KEY_FIELDS = ("Id", "SystemModstamp")  # what every read needs: the record and its version
META = ("LastModifiedDate", "LastModifiedById", "CreatedDate", "CreatedById")
UNREADABLE_TYPES = frozenset({"address", "location", "base64", "id", "complexvalue", "anyType"})


def readable(describe: Mapping[str, Any], idempotency_field: str | None) -> tuple[str, ...]:
    """The writable, readable field names of a describe result (without the upsert key)."""
    return tuple(
        f["name"] for f in describe["fields"]
        if isinstance(f, Mapping) and (f.get("createable") or f.get("updateable"))
        and f.get("type") not in UNREADABLE_TYPES and f.get("name") != idempotency_field)


def chosen(all_fields: tuple[str, ...], names: Collection[str] | None) -> tuple[str, ...]:
    """The fields to retrieve: every one of ``all_fields`` (system fields first), or ``Id``,
    ``SystemModstamp`` and those of ``names`` among them (in ``all_fields`` order). A name the
    object cannot be read with is left out, as a full read leaves it out: sending it would fail
    the whole call."""
    if names is None:
        return all_fields
    wanted = frozenset(names).difference(SYSTEM_FIELDS)
    return (*KEY_FIELDS, *(f for f in all_fields if f in wanted))


def to_record(object: str, row: Any, skip: frozenset[str | None]) -> Record:
    """One retrieve (or SOQL) row; ``skip`` holds the names that are not business fields."""
    if not isinstance(row, Mapping) or not isinstance(row.get("Id"), str) or not isinstance(row.get("SystemModstamp"), str):
        raise ResponseError(f"retrieve {object}: a record without Id or SystemModstamp")
    fields = {k: v for k, v in row.items() if k not in skip and v is not None}
    meta = {k: row[k] for k in META if row.get(k) is not None}
    return Record(object=object, id=row["Id"], fields=fields, version=row["SystemModstamp"], meta=meta)


def same_fields(now: Mapping[str, Any], then: Mapping[str, Any], names: frozenset[str] | None) -> bool:
    """Whether a re-read (``now``) holds what an earlier read of ``names`` (None: all) held."""
    if names is None:
        return dict(now) == dict(then)
    return {k: v for k, v in now.items() if k in names} == dict(then)
