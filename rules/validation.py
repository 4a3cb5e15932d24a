"""Validate a proposal against the rulebook. Violations are returned as data, never raised.

Value rules, by field type (None is never type-checked: setting a field to null blanks it, which
is fine unless the field is required):

* ``string`` -- a str; ``max_length`` counts Unicode code points (``len``), so one emoji or one
  Hangul syllable is one character.
* ``picklist`` -- a str among ``values`` (a non-str is ``invalid_type``, an unknown str is
  ``invalid_picklist_value``).
* ``date`` -- a ``YYYY-MM-DD`` str naming a real calendar date.
* ``datetime`` -- an ISO 8601 str with a time, ``T``-separated; offset (``Z``/``+02:00``) optional.
* ``number`` -- a finite int or float; bool and numeric strings are ``invalid_type``.
* ``integer`` -- an int; bool and floats (even ``5.0``) are ``invalid_type``, because a float in
  the payload usually means the producer computed something it should not have.
* ``boolean`` -- a bool. ``email`` -- a str of pragmatic ``local@domain.tld`` form.
* ``reference`` -- a non-blank str (a record id).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from rules.conditions import describe, is_blank, is_number, matches
from rules.proposal import Op, Proposal
from rules.schema import FieldSpec, ObjectSchema, Rulebook
from rules.violations import Code, Violation

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?", re.ASCII)
# Pragmatic, not RFC 5322: dot-atom local part, dotted domain of LDH labels with a 2+ letter TLD.
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")


def validate(proposal: Proposal, current: Mapping[str, Any] | None, rulebook: Rulebook,
             use_case: str | None) -> list[Violation]:
    """All violations of ``proposal`` against ``rulebook``, in a stable order; [] means valid.

    Order: ``unknown_object`` / ``record_not_found`` (each ends validation), ``unknown_use_case``,
    use-case ``allow`` violations, then per field in sorted name order (``unknown_field`` or the
    value violation), then required-field violations. ``current`` is the record before the change
    (None when it does not exist); it is ignored for creates. Required fields are judged on the
    record as it would be after the change, so an update can be rejected for a required field the
    current record already lacks. Deletes get only existence and ``allow`` checks.
    """
    obj_name = proposal.object
    obj = rulebook.objects.get(obj_name)
    if obj is None:
        return [Violation(Code.UNKNOWN_OBJECT.value, obj_name, None,
                          f"object {obj_name!r} is not in the rulebook (known: {', '.join(rulebook.objects)})")]
    if proposal.op is not Op.CREATE and current is None:
        return [Violation(Code.RECORD_NOT_FOUND.value, obj_name, None,
                          f"{obj_name} {proposal.record_id} does not exist; cannot {proposal.op.value} it")]
    out = _allow_violations(proposal, rulebook, use_case)
    if proposal.op is Op.DELETE:
        return out
    for name in sorted(proposal.fields):
        spec = obj.fields.get(name)
        if spec is None:
            out.append(Violation(Code.UNKNOWN_FIELD.value, obj_name, name,
                                 f"{obj_name}.{name} is not a field in the rulebook"))
        elif proposal.fields[name] is not None:
            violation = check_value(obj_name, name, spec, proposal.fields[name])
            if violation is not None:
                out.append(violation)
    after = dict(proposal.fields) if proposal.op is Op.CREATE else {**(current or {}), **proposal.fields}
    return out + _required_violations(obj_name, obj, after)


def _allow_violations(proposal: Proposal, rulebook: Rulebook, use_case: str | None) -> list[Violation]:
    if use_case is None:
        return []
    obj_name, op = proposal.object, proposal.op.value
    uc = rulebook.use_cases.get(use_case)
    if uc is None:
        return [Violation(Code.UNKNOWN_USE_CASE.value, obj_name, None,
                          f"use case {use_case!r} is not in the rulebook")]
    grant = uc.allow.get(obj_name)
    if grant is None:
        return [Violation(Code.OBJECT_NOT_ALLOWED.value, obj_name, None,
                          f"use case {use_case!r} may not change {obj_name} records")]
    out: list[Violation] = []
    if op not in grant.ops:
        out.append(Violation(Code.OPERATION_NOT_ALLOWED.value, obj_name, None,
                             f"use case {use_case!r} may not {op} {obj_name} records "
                             f"(allowed: {', '.join(grant.ops)})"))
    out += [Violation(Code.FIELD_NOT_ALLOWED.value, obj_name, name,
                      f"use case {use_case!r} may not set {obj_name}.{name}")
            for name in sorted(proposal.fields) if name not in grant.fields]
    return out


def _got(value: Any) -> str:
    text = repr(value)
    return (text if len(text) <= 60 else text[:57] + "...") + f" ({type(value).__name__})"


def check_value(obj_name: str, name: str, spec: FieldSpec, value: Any) -> Violation | None:
    """The first violation of a non-None ``value`` for field ``spec``, or None if it is valid."""
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


def _required_violations(obj_name: str, obj: ObjectSchema, after: Mapping[str, Any]) -> list[Violation]:
    out: list[Violation] = []
    seen: set[str] = set()
    for name in sorted(obj.fields):
        if obj.fields[name].required and is_blank(after.get(name)):
            seen.add(name)
            out.append(Violation(Code.REQUIRED_FIELD_MISSING.value, obj_name, name,
                                 f"{obj_name}.{name} is required"))
    for rule in obj.required_when:
        if not matches(rule.when, after):
            continue
        for name in rule.fields:
            if name not in seen and is_blank(after.get(name)):
                seen.add(name)
                out.append(Violation(Code.REQUIRED_FIELD_MISSING.value, obj_name, name,
                                     f"{name} is required when {describe(rule.when, after)}"))
    return out
