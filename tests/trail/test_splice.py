"""An entry body built in two steps (serialised before the head lock, seq and ts spliced in under
it) is byte for byte the canonical JSON of the whole content: the trail format did not change."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmgate.trail.canonical import canonical_json, splice_body, split_body
from crmgate.trail.records import ID_FIELDS
from crmgate.trail.store import format_ts

# Awkward strings on purpose: quotes, backslashes, the splice mark itself, control characters.
_MARKS = st.sampled_from(['"seq":0', ',"seq":0,"ts":""', '","ts":"', '\\"', '"', '\\', "\u2028", "\x00", "é"])
_TEXT = st.one_of(st.text(), _MARKS, st.lists(_MARKS).map("".join))
_ID = st.one_of(st.none(), _TEXT)
_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), _TEXT)
_JSON = st.recursive(_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=5), _MARKS), inner, max_size=4),
    # the placeholders the split serialises with, as real keys inside data
    st.fixed_dictionaries({"a": inner, "seq": st.just(0), "ts": st.just("")})), max_leaves=20)
_TS = st.datetimes(timezones=st.just(timezone.utc)).map(format_ts)


@settings(max_examples=400, deadline=None)
@given(ids=st.tuples(*[_ID] * len(ID_FIELDS)), kind=_TEXT.filter(bool),
       data=st.dictionaries(st.one_of(st.text(max_size=6), _MARKS), _JSON, max_size=5),
       seq=st.integers(min_value=1, max_value=2**62), ts=_TS)
def test_spliced_body_is_the_canonical_json(ids, kind, data, seq, ts):
    content = dict(zip(ID_FIELDS, ids), kind=kind, data=data)
    try:
        whole = canonical_json({**content, "seq": seq, "ts": ts}, jsonable=True)
    except ValueError:  # lone surrogates: the split must refuse them too
        with pytest.raises(ValueError):
            split_body(content)
        return
    assert splice_body(*split_body(content), seq, ts) == whole


def test_split_refuses_contents_it_cannot_cut():
    with pytest.raises(ValueError, match="cannot cut around key 'sz'"):
        split_body({"kind": "x", "sz": 1})  # a key between seq and ts
    with pytest.raises(ValueError, match="cannot cut around key 'use_case'"):
        split_body({"kind": "x", "use_case": {"seq": 0, "ts": ""}})  # non-string after ts
    with pytest.raises(ValueError, match="needs a key before 'seq'"):
        split_body({"use_case": "x"})  # nothing before seq


def test_content_may_carry_the_seq_and_ts_placeholders():
    """The seq and ts keys themselves are not "between" them: a content that already holds the
    placeholders (or old values) is cut where they go, and the spliced values replace them."""
    before, after = split_body({"kind": "k", "seq": 0, "ts": "", "use_case": "u"})
    assert splice_body(before, after, 5, "T") == '{"kind":"k","seq":5,"ts":"T","use_case":"u"}'


def test_lone_surrogate_in_an_id_is_refused():
    with pytest.raises(ValueError):
        split_body({"kind": "x", "data": {}, "use_case": "\ud800"})


def test_example_body():
    before, after = split_body({"actor": "a", "kind": "k", "data": {"seq": 1}, "use_case": None})
    ts = format_ts(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc))
    assert splice_body(before, after, 7, ts) == (
        '{"actor":"a","data":{"seq":1},"kind":"k","seq":7,"ts":"2026-01-02T03:04:05.000006Z","use_case":null}')
