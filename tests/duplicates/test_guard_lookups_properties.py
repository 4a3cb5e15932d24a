"""A batch's candidate look-up is the union of its creates' own look-ups: per candidate object,
each field's values merged, each once and sorted, whatever mix of objects and values the batch
holds (nothing lost, nothing added by asking for many creates at once)."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crmgate.project.scaffold import example_rulebook
from crmgate.rules.loader import parse_rulebook
from crmgate.rules.lookups import candidate_asks, candidate_queries
from crmgate.rules.proposal import Proposal
from crmgate.writes.duplicates import BatchGuard

RB = parse_rulebook(example_rulebook())
NAMES = st.sampled_from(["Ng", "Ada", "Zoë", "O'Reilly", "株式会社サクラ", " ", "Acme GmbH", "acme inc."])
EMAILS = st.sampled_from(["a@acme.example", "a+x@acme.example", "A@ACME.example", "b@gmail.com", "bad", "",
                          "z+@x.example"])
SITES = st.sampled_from(["acme.example", "https://www.acme.example/a", "linkedin.com/x", "nope"])
PHONES = st.sampled_from(["+49 30 1234567", "030 1234567", "+1 415 555 0100", "12"])


@st.composite
def creates(draw) -> Proposal:
    obj = draw(st.sampled_from(["Lead", "Contact", "Account"]))
    if obj == "Account":
        fields = {"Name": draw(NAMES), "Website": draw(SITES), "Phone": draw(PHONES)}
    else:
        fields = {"LastName": draw(NAMES), "FirstName": draw(NAMES), "Email": draw(EMAILS)}
        if obj == "Lead":
            fields["Company"] = draw(NAMES)
    dropped = draw(st.sets(st.sampled_from(sorted(fields))))
    return Proposal(object=obj, op="create", actor="ai:intake-1",
                    fields={k: v for k, v in fields.items() if k not in dropped})


class Recording:
    def __init__(self) -> None:
        self.calls: dict[str, tuple[dict, dict]] = {}

    def find_candidates(self, obj, keys, prefixes):
        assert obj not in self.calls  # one look-up per candidate object
        self.calls[obj] = (keys, prefixes)
        return []


def _union(proposals: list[Proposal]) -> dict[str, tuple[dict, dict]]:
    equals: dict[str, dict[str, set[str]]] = {}
    starts: dict[str, dict[str, set[str]]] = {}
    for p in proposals:  # each create alone, through the query objects
        for target, q in candidate_queries(p.object, RB.matching[p.object], [p.fields]).items():
            for into, got in ((equals, q.equals), (starts, q.prefixes)):
                for f, values in got.items():
                    into.setdefault(target, {}).setdefault(f, set()).update(values)
    return {t: ({f: sorted(v) for f, v in equals.get(t, {}).items()},
                {f: sorted(v) for f, v in starts.get(t, {}).items()})
            for t in sorted(equals.keys() | starts.keys())}


@settings(max_examples=400, deadline=None)
@given(st.lists(creates(), min_size=1, max_size=6))
def test_a_batch_asks_for_the_union_of_its_creates_look_ups(batch: list[Proposal]) -> None:
    crm = Recording()
    BatchGuard.prepare(crm, RB, {"Lead", "Contact", "Account"}, batch)
    union = _union(batch)
    assert crm.calls == union
    assert list(crm.calls) == sorted(crm.calls)
    # each object's fields in the order the batch first asked for them (the query's text is stable)
    assert [(list(k), list(p)) for k, p in crm.calls.values()] == [(list(k), list(p)) for k, p in union.values()]
    objects = {p.object for p in batch}
    if len(objects) == 1:  # one object's look-up is candidate_asks' own, as it is
        (obj,) = objects
        assert candidate_asks(obj, RB.matching[obj], [p.fields for p in batch]) == crm.calls
