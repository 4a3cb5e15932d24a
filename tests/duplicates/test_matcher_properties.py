"""find_matches, with its candidate pool's cached key values, its indexes and length bounds and its
per-rule scoring plan, gives what :func:`rule_score` gives reading every key afresh (no pool, no
plan) over a plainly built shortlist:
the same rules, candidates, scores and order, for creates checked one after another against CRM
records and the batch's earlier creates."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crmgate.project.scaffold import example_rulebook
from crmgate.rules import normalise as norm
from crmgate.rules.loader import parse_rulebook
from crmgate.rules.matching import Candidate, CandidatePool, MatchResult, RuleMatch, Scored, find_matches, key_value, rule_score
from crmgate.rules.matching_models import EXACT_ANCHORS, FUZZY_KINDS

RB = parse_rulebook(example_rulebook())
# few values, near each other: most draws are near-duplicates, scoring either side of the cutoffs
FIRST = st.sampled_from(["Ada", "Adah", "Ana", "Jon", "John", "Zoë", "Zoe", "", "Anna Maria"])
LAST = st.sampled_from(["Lovelace", "Lovelac", "Lovelacee", "Lovelance", "Lovelace-King", "Okafor", "Okafur", " "])
COMPANY = st.sampled_from(["Acme", "ACME Inc.", "Acme Corp", "Acme US", "Acne", "Globex GmbH", "株式会社サクラ"])
EMAIL = st.sampled_from(["ada@acme.example", "ADA@acme.example", "ada+x@acme.example", "jon@acme.example",
                         "ada@gmail.com", "x@globex.example", "bad"])
SITE = st.sampled_from(["acme.example", "https://www.acme.example/", "globex.example", "linkedin.com/acme"])


@st.composite
def records(draw, obj: str) -> dict:
    if obj == "Account":
        fields = {"Name": draw(COMPANY), "Website": draw(SITE)}
    else:
        fields = {"FirstName": draw(FIRST), "LastName": draw(LAST), "Email": draw(EMAIL)}
        if obj == "Lead":
            fields["Company"] = draw(COMPANY)
    return {k: v for k, v in fields.items() if draw(st.integers(0, 5))}  # now and then a field left out


def _shortlist(rule, obj: str, mine: dict, pool: CandidatePool, shared) -> list[Candidate]:
    """What may match, plainly: every CRM record and batch create of the rule's objects, except
    CRM records whose fuzzy anchor starts with another letter (the CRM look-up asks by prefix)."""
    targets = rule.targets(obj)
    at = next((n for n, k in enumerate(rule.keys) if k.kind in EXACT_ANCHORS), None)
    if at is None:
        at = next(n for n, k in enumerate(rule.keys) if k.kind in FUZZY_KINDS)
    anchor = rule.keys[at]

    def near(c: Candidate) -> bool:
        if anchor.kind in EXACT_ANCHORS or c.in_batch:
            return True
        theirs = key_value(anchor, anchor.fields_on(c.object), c.fields, shared)
        return bool(theirs) and theirs[:1] == mine[at][:1]
    return [c for c in [*pool.items, *pool.batch] if c.object in targets and near(c)]


def _reference(obj: str, fields: dict, pool: CandidatePool) -> MatchResult:
    """find_matches' own loop over a plain shortlist, scoring with rule_score and no pool (every
    key read afresh)."""
    section = RB.matching[obj]
    shared = section.shared_set
    matches = []
    for rule in section.rules:
        mine = {n: key_value(k, k.fields, fields, shared) for n, k in enumerate(rule.keys)}
        if any(v is None for v in mine.values()):
            continue
        scored = [Scored(c.object, c.id, s, c.in_batch) for c in _shortlist(rule, obj, mine, pool, shared)
                  if (s := rule_score(rule, obj, fields, c, shared)) is not None]
        if scored:
            scored.sort(key=lambda s: (-s.score, s.in_batch, s.id))
            matches.append(RuleMatch(rule.id, rule.action, tuple(scored), rule.overwrite))
    return MatchResult(obj, tuple(matches))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_find_matches_scores_as_rule_score_does(data) -> None:
    existing = [Candidate(obj, f"{obj[:3]}{i}", data.draw(records(obj)))
                for i, obj in enumerate(data.draw(st.lists(st.sampled_from(["Lead", "Contact", "Account"]), max_size=8)))]
    pool = CandidatePool(existing)
    for i, obj in enumerate(data.draw(st.lists(st.sampled_from(["Lead", "Contact", "Account"]), min_size=1, max_size=5))):
        fields = data.draw(records(obj))
        got = find_matches(obj, fields, RB.matching[obj], pool)
        assert got == _reference(obj, fields, pool)
        assert [m.candidates for m in got.matches] == [m.candidates for m in _reference(obj, fields, pool).matches]
        pool.add(Candidate(obj, f"batch:{i}", fields, in_batch=True))


def test_two_rules_with_the_same_key_share_its_cached_value() -> None:
    """Lead's two person_name rules read one cached value per candidate: the pool keeps one entry."""
    pool = CandidatePool([Candidate("Lead", "L1", {"FirstName": "Ada", "LastName": "Lovelace", "Company": "Acme",
                                                   "Email": "ada@acme.example"})])
    fields = {"FirstName": "Ada", "LastName": "Lovelace", "Company": "Acme Corp", "Email": "ada@acme.example"}
    got = find_matches("Lead", fields, RB.matching["Lead"], pool)
    assert [m.rule for m in got.matches] == ["same_email", "same_person_same_domain", "same_person_same_company"]
    person = [v for sig, v in pool._values.items() if sig[1] == "person_name"]
    assert person == [{("L1", False): norm.person_name("Ada", "Lovelace")}]


NAMES = st.lists(st.text(alphabet="abcdeé ", max_size=7), min_size=1, max_size=3).map(norm.PART.join)


@settings(max_examples=2000, deadline=None)
@given(NAMES, NAMES, st.sampled_from([50.0, 80.0, 87.5, 88.0, 90.0, 100.0, 200 / 3]))
def test_person_similarity_from_is_the_score_when_it_reaches_the_cutoff(a, b, cutoff) -> None:
    """The length bound only ever skips pairs that score below the cutoff."""
    score = norm.person_similarity(a, b)
    assert norm.person_similarity_from(a, b, cutoff) == (score if score >= cutoff else None)
