"""The condition language: operators, shorthand, missing values and structural checks."""
from __future__ import annotations

import pytest

from crmgate.rules.conditions import check_when, describe, matches, values_equal


@pytest.mark.parametrize(("when", "record", "expected"), [
    ({"S": {"in": ["a", "b"]}}, {"S": "b"}, True),
    ({"S": {"in": ["a", "b"]}}, {"S": "c"}, False),
    ({"S": {"in": ["a"]}}, {}, False),
    ({"S": {"not_in": ["a"]}}, {"S": "c"}, True),
    ({"S": {"not_in": ["a"]}}, {"S": "a"}, False),
    ({"S": {"not_in": ["a"]}}, {}, True),
    ({"S": {"eq": "a"}}, {"S": "a"}, True),
    ({"S": {"eq": "a"}}, {"S": "A"}, False),
    ({"S": {"ne": "a"}}, {"S": "b"}, True),
    ({"S": {"ne": "a"}}, {"S": "a"}, False),
    ({"S": "a"}, {"S": "a"}, True),           # bare scalar means eq
    ({"S": "a"}, {"S": "b"}, False),
    ({"N": 1}, {"N": True}, False),           # bool never equals a number
    ({"N": 1}, {"N": 1.0}, True),
    ({"S": {"present": True}}, {"S": "x"}, True),
    ({"S": {"present": True}}, {"S": "  "}, False),
    ({"S": {"present": True}}, {"S": None}, False),
    ({"S": {"present": True}}, {}, False),
    ({"S": {"present": True}}, {"S": 0}, True),
    ({"S": {"present": False}}, {}, True),
    ({"S": {"present": False}}, {"S": ""}, True),
    ({"S": {"present": False}}, {"S": "x"}, False),
    ({"N": {"gt": 5}}, {"N": 6}, True),
    ({"N": {"gt": 5}}, {"N": 5}, False),
    ({"N": {"gte": 5}}, {"N": 5}, True),
    ({"N": {"lt": 5}}, {"N": 4.5}, True),
    ({"N": {"lt": 5}}, {"N": 5}, False),
    ({"N": {"lte": 5}}, {"N": 5}, True),
    ({"N": {"gt": 5}}, {"N": "10"}, False),   # non-numeric never matches
    ({"N": {"lt": 5}}, {}, False),            # missing never matches
    ({"N": {"lt": 5}}, {"N": True}, False),   # bool is not numeric
    ({"N": {"lt": 5}}, {"N": float("nan")}, False),
    ({"N": {"gte": 1, "lte": 3}}, {"N": 2}, True),
    ({"N": {"gte": 1, "lte": 3}}, {"N": 4}, False),
    ({"A": "x", "B": {"present": True}}, {"A": "x", "B": "y"}, True),
    ({"A": "x", "B": {"present": True}}, {"A": "x"}, False),
])
def test_matches(when: dict, record: dict, expected: bool) -> None:
    """Each operator, the eq shorthand and AND-combination behave as documented."""
    assert matches(when, record) is expected


def test_matches_does_not_mutate() -> None:
    """matches is pure: neither argument changes."""
    when, record = {"S": {"in": ["a"]}}, {"S": "a"}
    matches(when, record)
    assert when == {"S": {"in": ["a"]}} and record == {"S": "a"}


@pytest.mark.parametrize(("when", "loc", "fragment"), [
    ({}, (), "non-empty mapping"),
    ([], (), "non-empty mapping"),
    ({"S": ["a"]}, ("S",), "got a list"),
    ({"S": {}}, ("S",), "at least one operator"),
    ({"S": {"inn": ["a"]}}, ("S", "inn"), "expected an operator"),
    ({"S": {"in": "a"}}, ("S", "in"), "expected a list"),
    ({"S": {"present": "yes"}}, ("S", "present"), "true or false"),
    ({"N": {"gt": "5"}}, ("N", "gt"), "expected a number"),
    ({"N": {"eq": [1]}}, ("N", "eq"), "expected a scalar"),
])
def test_check_when_reports_structure(when, loc, fragment) -> None:
    """Malformed conditions are located relative to the when mapping."""
    [(got_loc, message)] = check_when(when)
    assert got_loc == loc and fragment in message


def test_check_when_accepts_well_formed() -> None:
    """Every operator used correctly passes the structural check."""
    when = {"A": "x", "B": {"in": [1], "not_in": [2], "eq": 1, "ne": 3, "present": True,
                            "gt": 0, "gte": 0, "lt": 9, "lte": 9}}
    assert check_when(when) == []


def test_describe_names_the_actual_value() -> None:
    """With a record, membership tests read as 'X is <value>'; without, they list the choices."""
    when = {"StageName": {"in": ["Negotiation", "Closed Won"]}}
    assert describe(when, {"StageName": "Negotiation"}) == "StageName is Negotiation"
    assert describe(when) == "StageName is one of Negotiation, Closed Won"
    assert describe({"N": {"gt": 5}, "S": {"present": False}}) == "N > 5 and S is empty"


def test_values_equal() -> None:
    """values_equal treats ints and floats alike but keeps bools apart from numbers."""
    assert values_equal(1, 1.0) and values_equal(None, None) and values_equal("a", "a")
    assert not values_equal(True, 1) and not values_equal(0, False) and not values_equal(None, "")
