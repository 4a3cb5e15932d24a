"""The ``objects:`` section's field models, and the check of one value against one field.

Both the proposal validator and the rulebook's own checks (enrichment defaults) use
:func:`check_value`, so it lives below them both. Imports only ``conditions``, ``model`` and
``violations``.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from functools import cached_property
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field

from crmgate.rules.conditions import is_number
from crmgate.rules.model import Model as _Model
from crmgate.rules.violations import Code, Violation

FieldType = Literal["string", "picklist", "date", "datetime", "number", "integer", "boolean",
                    "email", "reference"]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?", re.ASCII)
# Pragmatic, not RFC 5322: dot-atom local part, dotted domain of LDH labels with a 2+ letter TLD.
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")


class FieldSpec(_Model):
    """One CRM field: its type and constraints."""

    type: FieldType
    required: bool = False
    max_length: int | None = Field(default=None, ge=1)
    min: float | None = None
    max: float | None = None
    values: list[str] | None = None


class RequiredWhen(_Model):
    """Fields that become required when ``when`` holds for the record after the change."""

    when: dict[str, Any]
    fields: list[str] = Field(min_length=1)


class ObjectSchema(_Model):
    """The fields of one CRM object and its conditional requirements."""

    fields: dict[str, FieldSpec] = Field(min_length=1)
    required_when: list[RequiredWhen] = Field(default_factory=list)

    @cached_property
    def required_names(self) -> tuple[str, ...]:
        """The names of the ``required`` fields, sorted: computed once, not per proposal."""
        return tuple(name for name in sorted(self.fields) if self.fields[name].required)

    @cached_property
    def accepts(self) -> dict[str, Callable[[Any], bool]]:
        """Per field, a test that is true for the values :func:`check_value` passes on its fast
        path (built once per rulebook, so a proposal's valid fields cost one call each); false
        means "ask :func:`check_value`", not "invalid"."""
        return {name: _accepts(spec) for name, spec in self.fields.items()}


def _got(value: Any) -> str:
    text = repr(value)
    return (text if len(text) <= 60 else text[:57] + "...") + f" ({type(value).__name__})"


def check_value(obj_name: str, name: str, spec: FieldSpec, value: Any) -> Violation | None:
    """The first violation of a non-None ``value`` for field ``spec``, or None if it is valid."""
    # valid values of the common types return here; anything else takes the full checks below
    kind, cls = spec.type, value.__class__
    if cls is str:
        if kind == "string" or (kind == "picklist" and value in (spec.values or ())) or (
                kind == "email" and len(value) <= 254 and _EMAIL.fullmatch(value)):
            if spec.max_length is None or len(value) <= spec.max_length:
                return None
    elif cls is int and kind == "integer" and (spec.min is None or value >= spec.min) and (
            spec.max is None or value <= spec.max):
        return None
    return _check(obj_name, name, spec, value)


def _accepts(spec: FieldSpec) -> Callable[[Any], bool]:
    """check_value's fast path for one field, with the spec's constants bound."""
    kind, longest = spec.type, spec.max_length
    if kind == "string":
        if longest is None:
            return lambda v: v.__class__ is str
        return lambda v: v.__class__ is str and len(v) <= longest
    if kind == "picklist":
        allowed = frozenset(spec.values or ())
        return lambda v: v.__class__ is str and v in allowed and (longest is None or len(v) <= longest)
    if kind == "email":
        return lambda v: v.__class__ is str and len(v) <= 254 and _EMAIL.fullmatch(v) is not None and (
            longest is None or len(v) <= longest)
    if kind == "integer":
        low, high = spec.min, spec.max
        return lambda v: v.__class__ is int and (low is None or v >= low) and (high is None or v <= high)
    return lambda v: False


def _check(obj_name: str, name: str, spec: FieldSpec, value: Any) -> Violation | None:
    def bad(code: Code, expected: str) -> Violation:
        return Violation(code.value, obj_name, name, f"{obj_name}.{name}: expected {expected}; got {_got(value)}")

    kind = spec.type
    if kind in ("string", "email", "reference", "picklist", "date", "datetime") and not isinstance(value, str):
        return bad(Code.INVALID_TYPE, f"a {kind} (string)")
    if kind == "picklist" and value not in (spec.values or []):
        return bad(Code.INVALID_PICKLIST_VALUE, f"one of {', '.join(spec.values or [])}")
    if kind == "date" and not _is_date(value):
        return bad(Code.INVALID_TYPE, "a date as YYYY-MM-DD")
    if kind == "datetime" and not _is_datetime(value):
        return bad(Code.INVALID_TYPE, "an ISO 8601 date-time such as 2026-01-31T09:30:00Z")
    if kind == "reference" and not value.strip():
        return bad(Code.INVALID_TYPE, "a non-empty record id")
    if kind == "email" and not (len(value) <= 254 and _EMAIL.fullmatch(value)):
        return bad(Code.INVALID_EMAIL, "an email address like name@example.com")
    if kind == "boolean" and not isinstance(value, bool):
        return bad(Code.INVALID_TYPE, "true or false")
    if kind == "number" and not is_number(value):
        return bad(Code.INVALID_TYPE, "a finite number")
    if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        return bad(Code.INVALID_TYPE, "an integer")
    if kind in ("number", "integer"):
        if spec.min is not None and value < spec.min:
            return bad(Code.OUT_OF_RANGE, f"a value >= {spec.min:g}")
        if spec.max is not None and value > spec.max:
            return bad(Code.OUT_OF_RANGE, f"a value <= {spec.max:g}")
    if spec.max_length is not None and isinstance(value, str) and len(value) > spec.max_length:
        return Violation(Code.TOO_LONG.value, obj_name, name,
                         f"{obj_name}.{name}: expected at most {spec.max_length} characters; got {len(value)}")
    return None


def _is_date(value: str) -> bool:
    if not _DATE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    if not _DATETIME.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True
