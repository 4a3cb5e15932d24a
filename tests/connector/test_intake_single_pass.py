"""One walk of a proposal dict serves both intake's plain-JSON check and the Proposal's own check
of its text; whatever the walk does not vouch for goes through both checks in full. Either way the
verdict (the Proposal, or every problem with its path and message) is what the two checks give."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from crmgate.errors import ProposalError
from crmgate.rules.proposal import Proposal
from crmgate.writes.intake import coerce, json_problem

TEXT = st.one_of(st.sampled_from(["", "a", "Ada", "x\x00y", "Zoë", "\ud800", "株式会社", "a+b@c.de"]),
                 st.text(max_size=4))
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(), TEXT)
VALUES = st.recursive(LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(TEXT, inner, max_size=3)), max_leaves=10)


def _deep(depth: int, leaf: object = "x") -> object:
    value = leaf
    for n in range(depth):
        value = {"k": value} if n % 2 else [value]
    return value


DEEP = st.integers(10, 40).map(_deep)


@st.composite
def items(draw):
    op = draw(st.sampled_from(["create", "create", "update", "delete", "merge"]))
    # mostly well-formed around the values under test, so the Proposal's own checks get to run
    item = {"object": draw(st.sampled_from(["Lead"] * 6 + ["Le\x00ad", "Léad", ""])), "op": op,
            "actor": draw(st.sampled_from(["ai:x"] * 6 + ["ai:\ud800", "ai:ö"])),
            "fields": draw(st.dictionaries(TEXT, st.one_of(VALUES, DEEP), max_size=4))}
    if op != "create" or draw(st.booleans()):
        item["record_id"] = draw(st.one_of(TEXT, st.none()))
    for name, values in (("reasons", st.lists(TEXT, max_size=2)), ("inputs", st.one_of(VALUES, DEEP)),
                         ("confidence", st.one_of(st.none(), st.floats())), ("use_case", TEXT),
                         ("idempotency_key", TEXT), ("extra", VALUES)):
        if draw(st.integers(0, 5 if name == "extra" else 1)) == 0:
            item[name] = draw(values)
    return item


def _both_checks(item: dict) -> object:
    """What intake gave when each check walked the proposal on its own."""
    bad = json_problem(item)
    if bad is not None:
        return [{"index": 0, "path": bad[0], "message": bad[1]}]
    try:
        return [Proposal.model_validate(item)]
    except ValidationError as exc:
        return [{"index": 0, "path": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]


@settings(max_examples=300, deadline=None)
@given(items())
def test_one_walk_gives_the_verdict_of_both_checks(item) -> None:
    """Accepted or refused with the same problems, paths and messages as the two full checks."""
    try:
        got: object = coerce([item])
    except ProposalError as exc:
        got = exc.details["problems"]
    assert got == _both_checks(item)


def test_the_nesting_limits_hold() -> None:
    """Fields and inputs nested around the Proposal's limit get the verdict of both checks."""
    for depth in range(24, 40):
        for name in ("fields", "inputs"):
            item = {"object": "Lead", "op": "create", "actor": "ai:x", name: {"A": _deep(depth)}}
            try:
                got: object = coerce([item])
            except ProposalError as exc:
                got = exc.details["problems"]
            assert got == _both_checks(item), (name, depth)


def test_a_nul_or_a_lone_surrogate_deep_in_fields_is_still_refused() -> None:
    """Text the one walk does not vouch for is checked by the Proposal in full."""
    for text, words in (("a\x00b", "NUL"), ("\udc00", "lone surrogate")):
        item = {"object": "Lead", "op": "create", "actor": "ai:x", "fields": {"A": [{"B": text}]}}
        try:
            coerce([item])
        except ProposalError as exc:
            assert words in exc.details["problems"][0]["message"]
        else:
            raise AssertionError(f"{text!r} was accepted")
