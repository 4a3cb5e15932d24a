"""A Salesforce describe result as the ``objects:`` section of a crmgate rulebook.

Only fields an integration could write are listed (``createable`` or ``updateable``); read-only,
compound (address, location) and binary fields are left out. Type mapping::

    string, textarea, phone, url, combobox, encryptedstring, multipicklist, time -> string (max_length)
    email -> email (max_length)      picklist -> picklist (active values)
    int, long -> integer             double, currency, percent -> number
    date -> date                     datetime -> datetime
    boolean -> boolean               reference -> reference

``required: true`` marks what Salesforce requires on create: createable, not nillable, not
defaulted on create (booleans are never required: they default to false). A picklist without
active values is written as a string, since a rulebook picklist needs values. Output is plain
data and YAML text; this module does not import ``rules`` (``adapters`` never does).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

_TYPES = {
    "string": "string", "textarea": "string", "phone": "string", "url": "string", "combobox": "string",
    "encryptedstring": "string", "multipicklist": "string", "time": "string",
    "email": "email", "picklist": "picklist", "int": "integer", "long": "integer",
    "double": "number", "currency": "number", "percent": "number", "date": "date",
    "datetime": "datetime", "boolean": "boolean", "reference": "reference",
}
_LENGTHED = frozenset({"string", "email"})


def field_spec(field: Mapping[str, Any]) -> dict[str, Any] | None:
    """One describe field as a rulebook field spec; None for fields crmgate cannot write."""
    sf_type = field.get("type")
    if not (field.get("createable") or field.get("updateable")) or sf_type not in _TYPES:
        return None
    kind = _TYPES[sf_type]
    spec: dict[str, Any] = {"type": kind}
    if (field.get("createable") and not field.get("nillable") and not field.get("defaultedOnCreate")
            and kind != "boolean"):
        spec["required"] = True
    if kind == "picklist":
        values = list(dict.fromkeys(
            str(v["value"]) for v in field.get("picklistValues") or []
            if isinstance(v, Mapping) and v.get("active", True) and v.get("value") is not None))
        if values:
            spec["values"] = values
        else:
            spec["type"] = kind = "string"
    length = field.get("length")
    if kind in _LENGTHED and isinstance(length, int) and length > 0:
        spec["max_length"] = length
    return spec


def objects_section(describes: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"objects": {Name: {"fields": {...}}}}`` for the given describe results, in order."""
    objects: dict[str, Any] = {}
    for describe in describes:
        name = describe.get("name")
        if not isinstance(name, str) or not isinstance(describe.get("fields"), list):
            raise TypeError("a describe result needs a name and a fields list")
        fields = {}
        for field in describe["fields"]:
            if isinstance(field, Mapping) and isinstance(field.get("name"), str):
                spec = field_spec(field)
                if spec is not None:
                    fields[field["name"]] = spec
        objects[name] = {"fields": fields}
    return {"objects": objects}


def objects_yaml(describes: Iterable[Mapping[str, Any]]) -> str:
    """The ``objects:`` section as YAML text, one field per line (flow style)."""
    section = objects_section(describes)
    lines = ["objects:"]
    for name, obj in section["objects"].items():
        lines += [f"  {name}:", "    fields:"]
        for field, spec in obj["fields"].items():
            flow = yaml.safe_dump(spec, default_flow_style=True, allow_unicode=True, sort_keys=False,
                                  width=10_000).strip()
            lines.append(f"      {field}: {flow}")
    return "\n".join(lines) + "\n"
