"""The normalisers remember their results per text: a cached answer is the one computed afresh,
a value that is not text gives what it gave before the caches (no key, no prefix), and a list
handed out is the caller's own (changing it changes no later answer)."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crmgate.rules import normalise as norm

TEXT = st.one_of(st.text(max_size=12), st.sampled_from([
    "+49 30 1234567", "030 1234567", "(415) 555-0100", "+1 415 555 0100", "12", "Acme GmbH & Co. KG",
    "株式会社サクラ精機", "https://www.Acme.com:443/a?x", "linkedin.com/x", " Ada ", "O'Reilly", "Zoë", "ß"]))
VALUES = st.one_of(TEXT, st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False),
                   st.lists(TEXT, max_size=2))
REGIONS = st.sampled_from([None, "US", "DE", "GB"])


def _fresh(a, b, region):
    """Each answer computed without any cache (the cached functions' own bodies)."""
    text = isinstance(a, str)
    e164 = norm._phone.__wrapped__(str(a), region) \
        if isinstance(a, (str, int)) and not isinstance(a, bool) else None
    as_text = [p if isinstance(p, str) else "" for p in (a, b)]
    return {
        "company": norm._company_name.__wrapped__(a) if text else None,
        "person": norm._person_name.__wrapped__(tuple(as_text)),
        "website": norm._website_domain.__wrapped__(a) if text else None,
        "phone": e164,
        "forms": [] if e164 is None else list(norm._phone_forms.__wrapped__(e164)),
        "company_prefixes": list(norm._prefixes.__wrapped__(a, True)) if text else [],
        "person_prefixes": list(norm._prefixes.__wrapped__(a, False)) if text else [],
    }


def _cached(a, b, region):
    return {"company": norm.company_name(a), "person": norm.person_name(a, b), "website": norm.website_domain(a),
            "phone": norm.phone(a, region), "forms": norm.phone_forms(a, region),
            "company_prefixes": norm.prefixes(a, company=True), "person_prefixes": norm.prefixes(a, company=False)}


@settings(max_examples=500, deadline=None)
@given(VALUES, VALUES, REGIONS)
def test_a_cached_answer_is_the_one_computed_afresh(a, b, region) -> None:
    expected = _fresh(a, b, region)
    first = _cached(a, b, region)
    assert first == expected
    first["forms"].append("mutated")  # the caller's own lists: no later answer changes
    first["company_prefixes"].append("mutated")
    first["person_prefixes"].append("mutated")
    assert _cached(a, b, region) == expected


def test_values_that_are_not_text_give_no_key() -> None:
    """As before the caches: a number is a phone number by its digits; nothing else gives a key."""
    assert norm.phone(4155550100, "US") == norm.phone("4155550100", "US") == "+14155550100"
    assert norm.phone(True, "US") is None and norm.phone_forms(None) == []
    assert norm.company_name(["Acme"]) is None and norm.company_name(7) is None
    assert norm.person_name(["Ada"], "Lovelace") == norm.person_name("", "Lovelace") == "lovelace"
    assert norm.website_domain(b"acme.com") is None
    assert norm.prefixes(None, company=True) == [] and norm.prefixes(42, company=False) == []
