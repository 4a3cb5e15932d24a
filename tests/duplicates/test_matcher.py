"""The matcher on its own: the measured thresholds on the generated set, normalisation, rule checks."""
from __future__ import annotations

import pytest

from benchmarks.duplicate_pairs import generate
from benchmarks.duplicate_pairs import evaluate as score_pairs
from crmgate.project.scaffold import example_rulebook
from crmgate.rules import normalise as norm
from crmgate.rules.loader import RulebookError, parse_rulebook
from crmgate.rules.lookups import candidate_queries
from crmgate.rules.matching import Candidate, find_matches


@pytest.fixture(scope="module")
def rulebook():
    return parse_rulebook(example_rulebook())


@pytest.mark.parametrize("seed", [17, 2026])
def test_default_rules_meet_the_targets_on_the_generated_set(rulebook, seed):
    """precision >= 0.98 and recall >= 0.95 for every default rule and every object."""
    pairs = generate(1000, seed=seed)
    assert len(pairs) == 1000 and 0.3 < sum(p.duplicate for p in pairs) / 1000 < 0.8
    scores = score_pairs(rulebook, pairs)
    for key, s in scores.items():
        if s["precision"] is not None:
            assert s["precision"] >= 0.98, (key, s)
        if s["recall"] is not None:
            assert s["recall"] >= 0.95, (key, s)
    assert {"Account.similar_name", "Account.same_website", "Contact.same_email",
            "Contact.same_person_same_domain", "Lead.same_email", "Lead.same_person_same_company"} <= set(scores)


def test_the_generated_set_is_the_same_for_a_seed_and_holds_every_hard_case():
    a, b = generate(1000, seed=17), generate(1000, seed=17)
    assert a == b
    cases = {p.case for p in a}
    assert {"same name at a free-mail domain", "same person at two companies", "non-Latin script",
            "accents", "typo", "legal suffix and case", "a regional subsidiary"} <= cases


@pytest.mark.parametrize("a, b", [("ACME, Inc.", "Acme Inc"), ("Müller GmbH & Co. KG", "Muller"),
                                  ("株式会社サクラ精機", "サクラ精機株式会社"), ("(주)새벽물류", "새벽물류 주식회사"),
                                  ("Łódź Tekstylia S.A.", "Lodz Tekstylia"), ("O'Reilly & Sons", "OReilly and Sons Ltd")])
def test_company_names_that_are_one(a, b):
    assert norm.company_name(a) == norm.company_name(b)


def test_keys_normalise_as_documented():
    assert norm.email(" John.Smith+crm@ACME.com ", plus_addressing=True) == "john.smith@acme.com"
    assert norm.email(" John.Smith+crm@ACME.com ") == "john.smith+crm@acme.com"
    assert norm.email_domain("ann@Gmail.com") is None and norm.email_domain("ann@acme.io") == "acme.io"
    assert norm.website_domain("HTTPS://www.Acme.com:443/about?x=1") == "acme.com"
    assert norm.website_domain("https://www.linkedin.com/company/acme") is None
    assert norm.phone("(415) 555-0100", "US") == norm.phone("+1 415 555 0100") == "+14155550100"
    assert norm.fold("グ") == "グ"  # a kana's voicing mark is not an accent


def test_the_same_person_at_gmail_or_at_two_companies_is_not_a_duplicate(rulebook):
    section = rulebook.matching["Contact"]
    new = {"FirstName": "Ann", "LastName": "Lee", "Email": "ann.lee@gmail.com"}
    gmail = Candidate("Contact", "003A", {"FirstName": "Ann", "LastName": "Lee", "Email": "lee.ann@gmail.com"})
    other = Candidate("Contact", "003B", {"FirstName": "Ann", "LastName": "Lee", "Email": "ann@initech.io"})
    assert find_matches("Contact", new, section, [gmail, other]).matches == ()
    same = Candidate("Contact", "003C", {"FirstName": "Annika", "LastName": "Lindqvist", "Email": "a.l@gmail.com"})
    work = {"FirstName": "Annika", "LastName": "Lindqvist", "Email": "annika@initech.io"}
    colleague = Candidate("Contact", "003D", {"FirstName": "Annika", "LastName": "Lindqvst", "Email": "al@initech.io"})
    m = find_matches("Contact", work, section, [same, colleague]).decisive
    assert m.rule == "same_person_same_domain" and [c.id for c in m.candidates] == ["003D"]


def test_one_query_per_object_asks_exact_keys_and_bounded_prefixes(rulebook):
    q = candidate_queries("Lead", rulebook.matching["Lead"], [
        {"FirstName": "Ann", "LastName": "Lee", "Company": "ACME, Inc.", "Email": "Ann+x@Acme.io"},
        {"FirstName": "Bo", "LastName": "Berg", "Company": "Initech"}])
    assert set(q) == {"Lead", "Contact"}
    assert q["Contact"].equals == {"Email": ("ann+x@acme.io", "ann@acme.io")}
    assert q["Contact"].prefixes["Email"] == ("ann+",)
    assert set(q["Lead"].prefixes["LastName"]) == {"lee", "berg"}
    assert all(len(p) <= norm.PREFIX_LENGTH for p in q["Lead"].prefixes["LastName"])


@pytest.mark.parametrize("snippet, path", [
    ("action: block", "matching.Lead.rules[0].action"),
    ("against: [Lead, Contact]\n        keys: [{kind: email, fields: [Email], plus_addressing: true}]",
     "matching.Lead.rules[0].against[1]"),
])
def test_broken_matching_rules_are_located(snippet, path):
    text = example_rulebook()
    broken = {"action: block": text.replace("action: block", "action: bounce", 1),
              "against": text.replace("against: [Lead, Contact]", "against: [Lead, Campaign]", 1)}
    with pytest.raises(RulebookError) as err:
        parse_rulebook(broken["action: block" if snippet.startswith("action") else "against"])
    assert any(p.path.startswith(path) for p in err.value.problems), err.value.problems


def test_cross_reference_problems_name_the_place():
    text = example_rulebook().replace("fields: [Website]}", "fields: [Webseite]}").replace(
        "- {kind: email_domain, fields: [Email]}\n        action: queue\n  Account:",
        "- {kind: email_domain, fields: [Email], threshold: 90}\n        action: queue\n  Account:")
    with pytest.raises(RulebookError) as err:
        parse_rulebook(text)
    paths = {p.path for p in err.value.problems}
    assert "matching.Account.rules[0].keys[0].fields[0]" in paths
    assert "matching.Contact.rules[1].keys[1].threshold" in paths


def test_batch_creates_added_between_look_ups_are_matched_by_their_exact_key(rulebook):
    """The pool indexes batch creates by exact key as they come: each later create still finds
    every earlier one with its email, and only those (the example's email rule blocks)."""
    from crmgate.rules.matching import CandidatePool

    section = rulebook.matching["Lead"]
    pool = CandidatePool()
    emails = ["a@x.io", "b@x.io", "A@X.io", "c@x.io", "b+crm@x.io"]
    found = []
    for n, email in enumerate(emails):
        fields = {"LastName": f"L{n}", "Company": f"C{n}", "Email": email}
        best = find_matches("Lead", fields, section, pool).decisive
        found.append(sorted(c.id for c in best.candidates) if best else [])
        pool.add(Candidate("Lead", f"batch:{n}", fields, in_batch=True))
    assert found == [[], [], ["batch:0"], [], ["batch:1"]]
