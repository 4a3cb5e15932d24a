"""An actor's decision boundaries, read from the rulebook: what it may change, and how to fix a
violation. The MCP server's tool descriptions and the HTTP API's ``/v1/capabilities`` come from here,
so an agent sees its limits before it acts and gets instructions it can follow when it crosses one.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from crmgate.errors import CrmgateError
from crmgate.rules.schema import FieldSpec, Rulebook
from crmgate.rules.usecases import actor_matches
from crmgate.rules.violations import Violation

_TYPE_WORDS = {
    "string": "text", "picklist": "one of the listed values", "date": "a date as YYYY-MM-DD",
    "datetime": "an ISO-8601 date and time, e.g. 2026-12-01T09:30:00Z", "number": "a number",
    "integer": "a whole number (no decimals)", "boolean": "true or false",
    "email": "an email address such as name@example.com", "reference": "a record id",
}


@dataclass(frozen=True, slots=True)
class Grant:
    """What one use case lets the actor do to one object."""

    use_case: str
    mode: str
    min_confidence: float | None
    object: str
    ops: tuple[str, ...]
    fields: dict[str, FieldSpec]

    def to_dict(self) -> dict[str, Any]:
        return {"use_case": self.use_case, "mode": self.mode, "min_confidence": self.min_confidence,
                "object": self.object, "ops": list(self.ops),
                "fields": {name: field_schema(spec) for name, spec in self.fields.items()}}


def grants_for(rulebook: Rulebook, actor: str) -> list[Grant]:
    """Every (use case, object) the actor's use cases allow, in rulebook order."""
    out: list[Grant] = []
    for uc_name, uc in rulebook.use_cases.items():
        if not actor_matches(uc, actor):
            continue
        for obj_name, grant in uc.allow.items():
            specs = rulebook.objects[obj_name].fields
            out.append(Grant(uc_name, uc.mode, uc.min_confidence, obj_name, tuple(grant.ops),
                             {f: specs[f] for f in grant.fields}))
    return out


def field_schema(spec: FieldSpec) -> dict[str, Any]:
    """The JSON Schema of one field's values (null blanks a field that is not required)."""
    base: dict[str, Any] = {
        "string": {"type": "string"}, "picklist": {"type": "string", "enum": list(spec.values or [])},
        "date": {"type": "string", "format": "date"}, "datetime": {"type": "string", "format": "date-time"},
        "number": {"type": "number"}, "integer": {"type": "integer"}, "boolean": {"type": "boolean"},
        "email": {"type": "string", "format": "email"}, "reference": {"type": "string", "minLength": 1},
    }[spec.type]
    if spec.max_length is not None:
        base["maxLength"] = spec.max_length
    if spec.min is not None:
        base["minimum"] = spec.min
    if spec.max is not None:
        base["maximum"] = spec.max
    if spec.required:
        return base
    return {"anyOf": [base, {"type": "null"}]}


def describe_field(name: str, spec: FieldSpec) -> str:
    """``Rating (one of Hot, Warm, Cold)``: a field as a person or a model reads it."""
    if spec.type == "picklist":
        what = f"one of {', '.join(spec.values or [])}"
    else:
        what = _TYPE_WORDS[spec.type]
    limits = []
    if spec.max_length is not None:
        limits.append(f"at most {spec.max_length} characters")
    if spec.min is not None:
        limits.append(f"at least {spec.min:g}")
    if spec.max is not None:
        limits.append(f"at most {spec.max:g}")
    if spec.required:
        limits.append("required")
    return f"{name} ({what}{'; ' + ', '.join(limits) if limits else ''})"


def fix_for(violation: Violation, rulebook: Rulebook, actor: str | None = None) -> str:
    """One instruction that resolves ``violation``, or says that retrying will not help."""
    code, obj_name, field_name = violation.code, violation.object, violation.field
    obj = rulebook.objects.get(obj_name)
    spec = obj.fields.get(field_name) if obj is not None and field_name else None
    allowed = _allowed(rulebook, actor, obj_name) if actor else None
    if code == "required_field_missing" and spec is not None:
        return f"Set {describe_field(field_name, spec)}: the record must have it after this change."  # type: ignore[arg-type]
    if code in ("invalid_type", "invalid_picklist_value", "too_long", "out_of_range", "invalid_email") \
            and spec is not None:
        return f"Send {describe_field(field_name, spec)} instead."  # type: ignore[arg-type]
    if code == "unknown_field":
        known = ", ".join(sorted(allowed[1])) if allowed else ", ".join(obj.fields) if obj else ""
        return f"Remove {field_name}: it is not a governed field of {obj_name}. Fields you may set: {known}."
    if code == "field_not_allowed":
        known = ", ".join(sorted(allowed[1])) if allowed else "none"
        return f"Remove {field_name}: your use case may not change it. Fields you may set on {obj_name}: {known}."
    if code == "operation_not_allowed":
        ops = ", ".join(allowed[0]) if allowed else "none"
        return f"Your use case may only do these to {obj_name}: {ops}. Do not retry this operation."
    if code in ("unknown_object", "object_not_allowed"):
        objs = sorted({g.object for g in grants_for(rulebook, actor)}) if actor else list(rulebook.objects)
        return f"Use an object you may change: {', '.join(objs) or 'none'}."
    if code == "unknown_use_case":
        names = [g.use_case for g in grants_for(rulebook, actor)] if actor else list(rulebook.use_cases)
        return f"Leave use_case out, or name one of yours: {', '.join(dict.fromkeys(names)) or 'none'}."
    if code == "actor_not_allowed":
        return "This actor has no use case for this change; retrying will not help: ask an admin."
    if code == "record_not_found":
        return f"Check record_id: no such {obj_name} exists (it may have been deleted). Read the record first."
    if code == "blocked_by_risk_tier":
        return "This change is reserved for people; do not retry it. Ask a person to make it."
    if code == "enrichment_failed":
        return f"Provide {field_name} yourself in fields, or try again later."
    return "Correct the proposal as the message says."


def _allowed(rulebook: Rulebook, actor: str, obj_name: str) -> tuple[list[str], set[str]] | None:
    grants = [g for g in grants_for(rulebook, actor) if g.object == obj_name]
    if not grants:
        return None
    ops = list(dict.fromkeys(op for g in grants for op in g.ops))
    return ops, {f for g in grants for f in g.fields}


def with_fixes(result: dict[str, Any], rulebook: Rulebook, actor: str | None) -> dict[str, Any]:
    """An outcome or check dict with a ``fix`` added to each of its violations."""
    if not result.get("violations"):
        return result
    fixed = [{**v, "fix": fix_for(Violation(v["code"], v["object"], v.get("field"), v["message"]),
                                  rulebook, actor)} for v in result["violations"]]
    return {**result, "violations": fixed}


@contextmanager
def fixes_on_refusal(rulebook: Rulebook) -> Iterator[None]:
    """Add a ``fix`` to the violations a refusal carries in its details (an approval whose edit, or
    whose record now, breaks the rules), as outcomes carry them."""
    try:
        yield
    except CrmgateError as exc:
        if isinstance(exc.details, dict) and exc.details.get("violations"):
            exc.details = with_fixes(exc.details, rulebook, None)
        raise
