"""``json_problem``'s fast check agrees with the full walk at the nesting limit and on bad leaves."""
from __future__ import annotations

import pytest

from crmgate.writes.intake import MAX_DEPTH, json_problem


def _nested(depth: int, leaf: object) -> object:
    value = leaf
    for n in range(depth):
        value = {"a": value} if n % 2 else [value]
    return value


@pytest.mark.parametrize("leaf", [1, "x", None, 1.5, {}, []])
def test_the_nesting_limit_is_exact(leaf):
    assert json_problem(_nested(MAX_DEPTH, leaf)) is None
    problem = json_problem(_nested(MAX_DEPTH + 1, leaf))
    assert problem is not None and "nested more than" in problem[1]


@pytest.mark.parametrize("leaf, message", [(float("nan"), "NaN"), (b"x", "bytes is not a JSON value"),
                                           ({1: 2}, "keys must be strings")])
def test_bad_leaves_are_located(leaf, message):
    path, text = json_problem({"fields": {"A": [1, leaf]}})
    assert path.startswith("fields.A.1") and message in text
