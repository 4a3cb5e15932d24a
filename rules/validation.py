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

from collections.abc import Mapping
from typing import Any

from crmgate.rules.conditions import describe, is_blank, matches
from crmgate.rules.fields import ObjectSchema, check_value
from crmgate.rules.proposal import OP_TEXT, Op, Proposal
from crmgate.rules.schema import Rulebook
from crmgate.rules.violations import Code, Violation


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
    fields, accepts = proposal.fields, obj.accepts
    found: list[tuple[str, Violation]] = []  # at most one per field: sorted by name below
    for name, value in fields.items():
        accept = accepts.get(name)
        if accept is None:
            found.append((name, Violation(Code.UNKNOWN_FIELD.value, obj_name, name,
                                          f"{obj_name}.{name} is not a field in the rulebook")))
        elif value is not None and not accept(value):  # the common valid values: one call
            violation = check_value(obj_name, name, obj.fields[name], value)
            if violation is not None:
                found.append((name, violation))
    if found:
        found.sort(key=_first)
        out += [v for _, v in found]
    # read only, so a create's own fields serve as the record after it
    after = fields if proposal.op is Op.CREATE else {**(current or {}), **fields}
    return out + _required_violations(obj_name, obj, after)


def _first(item: tuple[str, Violation]) -> str:
    return item[0]


def _allow_violations(proposal: Proposal, rulebook: Rulebook, use_case: str | None) -> list[Violation]:
    if use_case is None:
        return []
    obj_name, op = proposal.object, OP_TEXT[proposal.op]
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
    allowed = grant.field_set
    if not allowed.issuperset(proposal.fields):
        out += [Violation(Code.FIELD_NOT_ALLOWED.value, obj_name, name,
                          f"use case {use_case!r} may not set {obj_name}.{name}")
                for name in sorted(proposal.fields) if name not in allowed]
    return out


def _required_violations(obj_name: str, obj: ObjectSchema, after: Mapping[str, Any]) -> list[Violation]:
    out: list[Violation] = []
    seen: set[str] = set()
    for name in obj.required_names:
        if is_blank(after.get(name)):
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
