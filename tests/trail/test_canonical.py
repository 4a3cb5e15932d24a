"""Canonical JSON and the entry hash: the byte-exact form every trail hash covers."""
from __future__ import annotations

import hashlib
import json
import math
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmgate.trail import GENESIS, canonical_json, entry_hash
from crmgate.trail.canonical import is_plain_json, to_jsonable

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


def _reordered(value):
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


class Colour(Enum):
    RED = "red"


@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_stable_across_key_order(value):
    """The same mapping serialises identically whatever order its keys were inserted in."""
    assert canonical_json(_reordered(value)) == canonical_json(value)


@given(json_values)
def test_round_trips_json_values(value):
    """Parsing canonical JSON gives back the value, and re-canonicalising it is a fixed point."""
    text = canonical_json(value)
    assert json.loads(text) == value
    assert canonical_json(json.loads(text)) == text


@given(json_values)
def test_same_bytes_as_the_reference_encoder(value):
    """The reused C encoder gives exactly json.dumps' canonical settings' output (the pinned form)."""
    reference = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert canonical_json(value) == reference
    assert canonical_json(value, jsonable=True) == reference


@given(json_values)
def test_plain_json_values_are_recognised_as_plain(value):
    """is_plain_json holds exactly when to_jsonable would return an equal value unchanged."""
    assert is_plain_json(value) and to_jsonable(value) == value


@pytest.mark.parametrize("value", [{"x": (1,)}, {"x": {1: "a"}}, [Decimal("1")], {"x": [math.nan]},
                                   {"x": date(2026, 1, 2)}, {"x": Colour.RED}, (1, 2)])
def test_values_needing_conversion_are_not_plain(value):
    """Tuples, non-str keys, Decimals, NaN, dates and enums need to_jsonable's conversion."""
    assert not is_plain_json(value)


def test_compact_sorted_format():
    """Keys are sorted and there is no whitespace between tokens."""
    assert canonical_json({"b": 1, "a": [1, {"d": None, "c": True}]}) == '{"a":[1,{"c":true,"d":null}],"b":1}'


def test_non_ascii_kept_literally_and_round_trips():
    """Non-ASCII text is emitted as itself (not \\u escapes) and parses back unchanged."""
    value = {"city": "Zürich", "name": "日本語 🚀"}
    text = canonical_json(value)
    assert "Zürich" in text and "日本語 🚀" in text and "\\u" not in text
    assert json.loads(text) == value


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, Decimal("NaN"), Decimal("Infinity")])
def test_non_finite_numbers_rejected(bad):
    """NaN and infinities (float or Decimal), even nested, raise ValueError."""
    with pytest.raises(ValueError):
        canonical_json({"x": [bad]})


def test_lone_surrogate_rejected():
    """A string that cannot be encoded as UTF-8 raises ValueError instead of breaking the hash later."""
    with pytest.raises(ValueError):
        canonical_json({"x": "\ud800"})


def test_conversions():
    """datetime/date become ISO text, Decimal its str, tuples lists, sets sorted lists, enums values."""
    value = {
        "at": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc), "day": date(2026, 1, 2),
        "amount": Decimal("10.50"), "pair": (1, 2), "tags": {"b", "a", "c"}, "colour": Colour.RED,
    }
    assert json.loads(canonical_json(value)) == {
        "at": "2026-01-02T03:04:05.000006+00:00", "day": "2026-01-02", "amount": "10.50",
        "pair": [1, 2], "tags": ["a", "b", "c"], "colour": "red",
    }


@pytest.mark.parametrize("bad", [{1: "x"}, {"x": b"bytes"}, {"x": object()}])
def test_unsupported_values_rejected(bad):
    """Non-string keys and types without a canonical form raise TypeError."""
    with pytest.raises(TypeError):
        canonical_json(bad)


def test_entry_hash_definition():
    """entry_hash is sha256 over prev_hash, a newline and the UTF-8 body, pinned to a known digest."""
    body = canonical_json({"city": "Zürich"})
    expected = hashlib.sha256((GENESIS + "\n" + body).encode("utf-8")).hexdigest()
    assert entry_hash(GENESIS, body) == expected
    assert entry_hash(GENESIS, "{}") == "5649d09ed68c17156095d175eef152856c5b1a81c117c409c1e00f096aa6838e"
