"""The condition language shared by ``required_when`` (and, later, routing).

A condition (``when``) is a mapping ``field -> test``; every entry must hold. A test is either a
bare scalar (shorthand for ``eq``) or a mapping of operators, all of which must hold::

    {StageName: {in: [Negotiation, Closed Won]}, Amount: {gte: 0}, OwnerId: {present: true}}

Operators: ``in``, ``not_in`` (lists), ``eq``, ``ne`` (scalars), ``present`` (bool; a value is
present when it is not None and not a blank string), ``gt``, ``gte``, ``lt``, ``lte`` (numbers; a
missing or non-numeric value never satisfies them). A field absent from the record is None.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

OPERATORS: tuple[str, ...] = ("in", "not_in", "eq", "ne", "present", "gt", "gte", "lt", "lte")
_LIST_OPS = frozenset({"in", "not_in"})
_NUMERIC_OPS = frozenset({"gt", "gte", "lt", "lte"})

Loc = tuple[str | int, ...]


def is_number(value: Any) -> bool:
    """True for a finite int or float; bool is not a number here (True == 1 is a trap)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)


def is_blank(value: Any) -> bool:
    """True for None and for strings that are empty or whitespace only."""
    return value is None or (isinstance(value, str) and not value.strip())


def values_equal(a: Any, b: Any) -> bool:
    """Equality as a CRM means it: ``1 == 1.0`` but ``True != 1`` (bool never equals a number)."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


def check_when(when: Any) -> list[tuple[Loc, str]]:
    """Structural problems of a ``when`` mapping, as ``(relative location, message)`` pairs.

    An empty list means the condition is well formed. Field existence is not checked here: the
    caller knows which fields exist.
    """
    if not isinstance(when, Mapping) or not when:
        return [((), f"expected a non-empty mapping of field -> test; got {when!r}")]
    problems: list[tuple[Loc, str]] = []
    for field, test in when.items():
        if isinstance(test, list):
            problems.append(((field,), f"expected a scalar or an operator mapping; got a list "
                                       f"(write {{in: {test!r}}} for membership)"))
            continue
        if not isinstance(test, Mapping):
            continue  # bare scalar: eq
        if not test:
            problems.append(((field,), "expected at least one operator; got an empty mapping"))
        for op, operand in test.items():
            problems.extend(((field, op) + loc, msg) for loc, msg in _check_operator(op, operand))
    return problems


def _check_operator(op: Any, operand: Any) -> list[tuple[Loc, str]]:
    if op not in OPERATORS:
        return [((), f"expected an operator, one of {', '.join(OPERATORS)}; got {op!r}")]
    if op in _LIST_OPS and not isinstance(operand, list):
        return [((), f"expected a list; got {operand!r}")]
    if op == "present" and not isinstance(operand, bool):
        return [((), f"expected true or false; got {operand!r}")]
    if op in _NUMERIC_OPS and not is_number(operand):
        return [((), f"expected a number; got {operand!r}")]
    if op in ("eq", "ne") and isinstance(operand, (list, Mapping)):
        return [((), f"expected a scalar; got {operand!r}")]
    return []


def matches(when: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """True when every test in ``when`` holds for ``record``. Pure; assumes a well-formed ``when``.

    A field missing from ``record`` is None: ``ne``/``not_in``/``present: false`` hold for it,
    ``eq``/``in``/numeric comparisons/``present: true`` do not (unless comparing to None).
    """
    return all(_test_holds(test, record.get(field)) for field, test in when.items())


def _test_holds(test: Any, value: Any) -> bool:
    if not isinstance(test, Mapping):
        return values_equal(value, test)
    return all(_operator_holds(op, operand, value) for op, operand in test.items())


def _operator_holds(op: str, operand: Any, value: Any) -> bool:
    if op == "eq":
        return values_equal(value, operand)
    if op == "ne":
        return not values_equal(value, operand)
    if op == "in":
        return any(values_equal(value, item) for item in operand)
    if op == "not_in":
        return not any(values_equal(value, item) for item in operand)
    if op == "present":
        return (not is_blank(value)) is operand
    if op in _NUMERIC_OPS:
        if not is_number(value) or not is_number(operand):
            return False
        return {"gt": value > operand, "gte": value >= operand,
                "lt": value < operand, "lte": value <= operand}[op]
    raise ValueError(f"unknown operator {op!r}")  # unreachable for a checked rulebook


def describe(when: Mapping[str, Any], record: Mapping[str, Any] | None = None) -> str:
    """A short human phrase for ``when``, e.g. ``StageName is Negotiation``.

    With ``record``, equality/membership tests name the record's actual value, which reads better
    in a violation message than the whole list of accepted values.
    """
    parts: list[str] = []
    for field, test in when.items():
        ops = test if isinstance(test, Mapping) else {"eq": test}
        for op, operand in ops.items():
            actual = None if record is None else record.get(field)
            if op in ("eq", "in") and record is not None and not is_blank(actual):
                parts.append(f"{field} is {actual}")
            elif op == "eq":
                parts.append(f"{field} is {operand}")
            elif op == "in":
                parts.append(f"{field} is one of {', '.join(map(str, operand))}")
            elif op == "not_in":
                parts.append(f"{field} is not one of {', '.join(map(str, operand))}")
            elif op == "ne":
                parts.append(f"{field} is not {operand}")
            elif op == "present":
                parts.append(f"{field} is {'present' if operand else 'empty'}")
            else:
                sym = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
                parts.append(f"{field} {sym} {operand}")
    return " and ".join(parts)
