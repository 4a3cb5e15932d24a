"""A Proposal handed to ``coerce`` is checked on its own values when they are plain JSON, and by its
``model_dump`` otherwise: either way the verdict is the one the dump alone gives."""
from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmgate.errors import ProposalError
from crmgate.rules.proposal import Op, Proposal
from crmgate.writes.intake import MAX_DEPTH, coerce, json_problem

LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=4),
                   st.sampled_from([b"x", {1, 2}, (1, 2), Op.UPDATE, float("inf")]))
VALUES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), inner, max_size=3)),
    max_leaves=8)


class Tagged(Proposal):
    """A subclass with a field of its own: only model_dump knows about it."""

    tag: object = None


def _deep(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def _verdict(items: list) -> object:
    try:
        return coerce(items)
    except ProposalError as exc:
        return exc.details["problems"]


def _expected(p: Proposal) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # model_construct values pydantic's serializer does not expect
        bad = json_problem(p.model_dump(mode="python"))
    return [p] if bad is None else [{"index": 0, "path": bad[0], "message": bad[1]}]


@settings(max_examples=300, deadline=None)
@given(fields=st.dictionaries(st.text(max_size=3), VALUES, max_size=4), inputs=VALUES, reasons=VALUES,
       op=st.sampled_from([Op.CREATE, "create", 7]), confidence=st.one_of(st.none(), st.floats()),
       tagged=st.booleans(), tag=VALUES)
def test_a_proposals_verdict_is_that_of_its_dump(fields, inputs, reasons, op, confidence, tagged, tag) -> None:
    """Built without validation (any values), a Proposal or a subclass is accepted or refused, with
    the same path and message, exactly as checking its model_dump says."""
    kw = dict(object="Lead", op=op, record_id=None, fields=fields, actor="ai:x", use_case=None,
              confidence=confidence, reasons=reasons, inputs=inputs, idempotency_key=None)
    p = Tagged.model_construct(tag=tag, **kw) if tagged else Proposal.model_construct(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _verdict([p]) == _expected(p)


@pytest.mark.parametrize("depth, ok", [(MAX_DEPTH - 2, True), (MAX_DEPTH - 1, False)])
def test_the_nesting_limit_holds_for_proposals(depth, ok) -> None:
    """Fields nested to the limit pass; one level more is refused, as for a dict."""
    p = Proposal.model_construct(object="Lead", op=Op.CREATE, record_id=None, fields={"A": _deep(depth)},
                                 actor="ai:x", use_case=None, confidence=None, reasons=[], inputs={},
                                 idempotency_key=None)
    assert (_verdict([p]) == [p]) is ok and _verdict([p]) == _expected(p)


def test_a_subclass_field_is_checked_through_the_dump() -> None:
    """A subclass's own field is not among the values read directly: a bad one is still refused."""
    p = Tagged.model_construct(tag=b"x", object="Lead", op=Op.CREATE, record_id=None, fields={"A": 1},
                               actor="ai:x", use_case=None, confidence=None, reasons=[], inputs={},
                               idempotency_key=None)
    [problem] = _verdict([p])
    assert problem["path"] == "tag" and "bytes" in problem["message"]
