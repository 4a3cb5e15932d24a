"""Canonical form edge cases found by mutation testing: the slow path must agree with the fast one."""
from __future__ import annotations

from enum import Enum

import pytest

from crmgate.trail import canonical_json


class Money(float):
    """A float subclass (as some drivers return): takes the general path, not the exact-type one."""


class Label(str):
    """A str subclass."""


def test_a_finite_float_subclass_encodes_like_a_float():
    assert canonical_json({"amount": Money(12.5)}) == canonical_json({"amount": 12.5}) == '{"amount":12.5}'


@pytest.mark.parametrize("bad", [Money("nan"), Money("inf")], ids=["nan", "inf"])
def test_a_non_finite_float_subclass_is_refused(bad):
    with pytest.raises(ValueError):
        canonical_json({"amount": bad})


def test_subclass_keys_and_values_encode_as_plain_text():
    assert canonical_json({Label("b"): Label("x"), "a": [Money(1.0)]}) == '{"a":[1.0],"b":"x"}'


def test_a_top_level_string_keeps_non_ascii_literally():
    """A bare string (it takes the json.dumps path, not the prebuilt encoder) is not \\u-escaped."""
    assert canonical_json("Zürich") == '"Zürich"'


def test_a_set_is_sorted_by_the_canonical_form_of_its_items():
    """Sets become lists sorted by each item's canonical text, non-ASCII kept literally."""
    assert canonical_json({"s": {"ä", "b", "a"}}) == '{"s":["a","b","ä"]}'


def test_split_body_accepts_content_already_holding_seq_and_ts():
    """Content that already holds ``seq`` and ``ts`` placeholders is cut like content without them:
    splicing gives the canonical JSON with the real values."""
    from crmgate.trail.canonical import splice_body, split_body

    content = {"actor": "ai:x", "seq": 0, "ts": "", "zz": "tail"}
    before, after = split_body(content)
    assert splice_body(before, after, 7, "2026-12-07T05:00:00Z") == canonical_json(
        {**content, "seq": 7, "ts": "2026-12-07T05:00:00Z"})


def test_split_body_replaces_placeholders_of_any_type():
    """A content whose ``ts`` placeholder is not a string (nor None) is cut all the same: the
    spliced values replace the placeholders."""
    from crmgate.trail.canonical import splice_body, split_body

    before, after = split_body({"kind": "k", "seq": None, "ts": 0, "use_case": "u"})
    assert splice_body(before, after, 5, "T") == '{"kind":"k","seq":5,"ts":"T","use_case":"u"}'


def test_split_body_needs_a_key_sorting_before_seq_even_with_placeholders():
    """``seq`` itself is not a key before ``seq``: a content holding only the placeholders and
    ``use_case`` is refused, with that reason."""
    from crmgate.trail.canonical import split_body

    with pytest.raises(ValueError, match=r"^split_body needs a key before 'seq'$"):
        split_body({"seq": 0, "ts": "", "use_case": "u"})


class Shape(Enum):
    """Enum members hash by name, so a set may hold them even when their values are dicts."""

    LAST_KEY_Z = {"z": 0, "a": 1}
    LAST_KEY_B = {"b": 0, "a": 2}


def test_a_set_of_mapping_values_is_sorted_by_their_canonical_text():
    """Set items that become objects are ordered by their canonical text, whose keys are sorted
    ('{"a":1,...}' before '{"a":2,...}'), not by the order their keys were written in."""
    assert canonical_json({"s": {Shape.LAST_KEY_B, Shape.LAST_KEY_Z}}) == '{"s":[{"a":1,"z":0},{"a":2,"b":0}]}'


# -- the plain-JSON walk and the orjson path ------------------------------------------------------

def test_plain_kind_tells_plain_data_with_and_without_floats_from_the_rest():
    """PLAIN: exact dicts with str keys, lists, str, int, bool, None, at any depth; PLAIN_FLOATS as
    soon as one finite float is anywhere; NOT_PLAIN for a tuple, a subclass, a non-str key, a
    non-finite float or any other type, wherever it sits."""
    from crmgate.trail.canonical import NOT_PLAIN, PLAIN, PLAIN_FLOATS, is_plain_json, plain_kind

    assert plain_kind({"a": [1, "x", None, True, {"b": []}], "c": {}}) == PLAIN
    assert plain_kind("x") == plain_kind(None) == plain_kind([]) == PLAIN
    assert plain_kind(1.5) == plain_kind({"a": [{"b": 0.1}]}) == plain_kind([1, [2.5], "x"]) == PLAIN_FLOATS
    assert plain_kind({"a": [{"b": 0.1}], "c": [1]}) == PLAIN_FLOATS  # a later plain sibling keeps the flag
    for bad in ({"a": (1,)}, {"a": [Label("x")]}, {1: "a"}, {"a": {"b": float("nan")}}, [float("inf")],
                {"a": [{"b": {1, 2}}]}, Money(1.0), [[b"x"]]):
        assert plain_kind(bad) == NOT_PLAIN, bad
        assert not is_plain_json(bad)
    assert is_plain_json({"a": 1.5}) and is_plain_json({"a": 1})


def test_data_without_floats_is_written_by_orjson_byte_for_byte_like_json():
    """The orjson path (no floats promised) writes exactly the json encoder's text: sorted keys by
    code point, non-ASCII literal, control characters escaped the same way."""
    from crmgate.trail.canonical import _dumps, _dumps_plain

    text = "".join(chr(i) for i in range(0x80)) + "\u2028 é 漢 😀 \x7f\ufeff"
    value = {"é": [text, -2**63, 2**64 - 1, True, None], "e": {"z": 1, "a": [{}]}, "😀": "", "\uffff": 0}
    assert _dumps_plain(value, floats=False) == _dumps(value)


def test_what_orjson_refuses_takes_the_json_path():
    """Integers beyond 64 bits are written by the json encoder; a lone surrogate is still refused."""
    from crmgate.trail.canonical import canonical_json as canon

    assert canon({"n": 2**70}, jsonable=True, floats=False) == '{"n":1180591620717411303424}'
    with pytest.raises(ValueError):
        canon({"s": "\ud800"}, jsonable=True, floats=False)


def test_floats_keep_the_json_encoder_where_orjson_writes_them_otherwise():
    """orjson writes 1e-05 as 0.00001: data holding a float is written by the json encoder, so
    the stored body is the canonical text."""
    from crmgate.trail.canonical import split_body, splice_body

    content = {"kind": "k", "data": {"x": [1e-05, 1e-07]}}
    assert splice_body(*split_body(content), 1, "T") == '{"data":{"x":[1e-05,1e-07]},"kind":"k","seq":1,"ts":"T"}'


def test_values_that_may_hold_floats_are_written_by_the_json_encoder():
    """canonical_json of any value (not promised float-free) writes floats as json does: orjson
    would write 1e-05 as 0.00001 and 2.5e-07 as 2.5e-7."""
    assert canonical_json({"r": 1e-05, "n": [2.5e-07]}) == '{"n":[2.5e-07],"r":1e-05}'
    assert canonical_json({"r": 1e-05}, jsonable=True) == '{"r":1e-05}'
