"""Validation: existence, use-case allowances, value types and required fields on the after-record."""
from __future__ import annotations

import pytest
from rules_helpers import lead, opp, proposal

from crmgate.rules.schema import Rulebook
from crmgate.rules.validation import validate

LEAD_UC = "lead_intake"


def _codes(violations) -> list[tuple[str, str | None]]:
    return [(v.code, v.field) for v in violations]


def _lead_create(rulebook: Rulebook, **fields):
    base = {"LastName": "Kim", "Company": "Acme"}
    # No use case: these tests are about the schema, and lead_intake does not allow OwnerId.
    return validate(proposal("Lead", "create", "ai:lead-intake-1", {**base, **fields}), None, rulebook, None)


def test_valid_create_has_no_violations(rulebook: Rulebook) -> None:
    """A complete, well-typed Lead create is valid."""
    assert _lead_create(rulebook, Email="kim@acme.example", Country="KR", NumberOfEmployees=12,
                        Rating="Hot") == []


def test_unknown_object_stops_validation(rulebook: Rulebook) -> None:
    """An object missing from the rulebook yields only unknown_object."""
    got = validate(proposal("Campaign", "create", "ai:x", {"Bogus": 1}), None, rulebook, LEAD_UC)
    assert _codes(got) == [("unknown_object", None)]


@pytest.mark.parametrize("op", ["update", "delete"])
def test_missing_record_stops_validation(rulebook: Rulebook, op: str) -> None:
    """Update/delete of a record that does not exist yields only record_not_found."""
    fields = {"Bogus": 1} if op == "update" else {}
    got = validate(proposal("Lead", op, "ai:x", fields), None, rulebook, LEAD_UC)
    assert _codes(got) == [("record_not_found", None)]
    assert "rec1" in got[0].message


def test_create_ignores_current(rulebook: Rulebook) -> None:
    """For a create, a stray current record does not fill in required fields."""
    got = validate(proposal("Lead", "create", "ai:x", {"LastName": "Kim"}), lead(), rulebook, LEAD_UC)
    assert _codes(got) == [("required_field_missing", "Company")]


def test_use_case_allowances(rulebook: Rulebook) -> None:
    """Objects, ops and fields outside the use case's allow list are each reported."""
    got = validate(proposal("Opportunity", "create", "ai:x", {"Name": "n"}), None, rulebook, LEAD_UC)
    assert ("object_not_allowed", None) in _codes(got)
    got = validate(proposal("Lead", "delete", "ai:x"), lead(), rulebook, LEAD_UC)
    assert _codes(got) == [("operation_not_allowed", None)]
    got = validate(proposal("Lead", "update", "ai:x", {"OwnerId": "005", "Rating": "Hot"}), lead(), rulebook, LEAD_UC)
    assert _codes(got) == [("field_not_allowed", "OwnerId")]


def test_unknown_use_case_name_in_validate(rulebook: Rulebook) -> None:
    """validate called with a use case the rulebook lacks reports unknown_use_case."""
    got = validate(proposal("Lead", "update", "ai:x", {"Rating": "Hot"}), lead(), rulebook, "nope")
    assert _codes(got) == [("unknown_use_case", None)]


def test_no_use_case_skips_allow_checks(rulebook: Rulebook) -> None:
    """With use_case None only the schema applies (OwnerId is a Lead field, so it is fine)."""
    assert validate(proposal("Lead", "update", "ai:x", {"OwnerId": "005"}), lead(), rulebook, None) == []


def test_unknown_field(rulebook: Rulebook) -> None:
    """A field missing from the object schema is unknown_field (and, under a use case, not allowed)."""
    got = validate(proposal("Lead", "update", "ai:x", {"Nickname": "K"}), lead(), rulebook, None)
    assert _codes(got) == [("unknown_field", "Nickname")]


@pytest.mark.parametrize(("field", "value", "code"), [
    ("LastName", 5, "invalid_type"),
    ("LastName", ["Kim"], "invalid_type"),
    ("Country", "KOR", "too_long"),
    ("Rating", "Lukewarm", "invalid_picklist_value"),
    ("Rating", "hot", "invalid_picklist_value"),
    ("Rating", 1, "invalid_type"),
    ("Email", "not-an-email", "invalid_email"),
    ("Email", "kim@acme", "invalid_email"),
    ("Email", "kim@@acme.example", "invalid_email"),
    ("Email", "kim..lee@acme.example", "invalid_email"),
    ("Email", "kim@acme.example\n", "invalid_email"),
    ("Email", 42, "invalid_type"),
    ("NumberOfEmployees", -1, "out_of_range"),
    ("NumberOfEmployees", 5.0, "invalid_type"),
    ("NumberOfEmployees", True, "invalid_type"),
    ("NumberOfEmployees", "12", "invalid_type"),
    ("OwnerId", "", "invalid_type"),
    ("OwnerId", "   ", "invalid_type"),
    ("OwnerId", 5, "invalid_type"),
])
def test_lead_value_checks(rulebook: Rulebook, field: str, value, code: str) -> None:
    """Each Lead field type rejects the wrong kind of value with the right code."""
    got = _lead_create(rulebook, **{field: value})
    assert _codes(got) == [(code, field)]
    assert f"Lead.{field}" in got[0].message


@pytest.mark.parametrize(("field", "value"), [
    ("Email", "first.last+tag@sub.example.co.kr"), ("Email", "o'brien@example.org"),
    ("NumberOfEmployees", 0), ("Country", "KR"), ("Country", "한국"), ("OwnerId", "005xx000001"),
])
def test_lead_values_accepted(rulebook: Rulebook, field: str, value) -> None:
    """Well-formed values pass, including boundary values and non-Latin text."""
    assert _lead_create(rulebook, **{field: value}) == []


def _opp_update(rulebook: Rulebook, **fields):
    return validate(proposal("Opportunity", "update", "ai:x", fields), opp(), rulebook, None)


@pytest.mark.parametrize(("field", "value", "code"), [
    ("CloseDate", "2026-02-30", "invalid_type"),
    ("CloseDate", "2026-2-3", "invalid_type"),
    ("CloseDate", "20260203", "invalid_type"),
    ("CloseDate", "2026-02-03T10:00:00", "invalid_type"),
    ("CloseDate", "２０２６-０２-０３", "invalid_type"),
    ("CloseDate", 20260203, "invalid_type"),
    ("Amount", "100", "invalid_type"),
    ("Amount", True, "invalid_type"),
    ("Amount", float("nan"), "invalid_type"),
    ("Amount", float("inf"), "invalid_type"),
    ("Amount", -0.01, "out_of_range"),
    ("StageName", "Won", "invalid_picklist_value"),
    ("NextStep", "x" * 256, "too_long"),
])
def test_opportunity_value_checks(rulebook: Rulebook, field: str, value, code: str) -> None:
    """Dates must be real YYYY-MM-DD dates; numbers must be finite non-bool numbers within bounds."""
    assert _codes(_opp_update(rulebook, **{field: value})) == [(code, field)]


@pytest.mark.parametrize(("field", "value"), [
    ("CloseDate", "2028-02-29"), ("Amount", 0), ("Amount", 12.5), ("Amount", 10**12), ("NextStep", "x" * 255),
])
def test_opportunity_values_accepted(rulebook: Rulebook, field: str, value) -> None:
    """Boundary values (leap day, zero, exactly max_length) pass."""
    assert _opp_update(rulebook, **{field: value}) == []


@pytest.mark.parametrize("text", ["가" * 255, "中" * 255, "😀" * 255, "é" * 255])
def test_max_length_counts_code_points(rulebook: Rulebook, text: str) -> None:
    """max_length counts characters, not bytes: 255 Hangul/Han/emoji characters fit, 256 do not."""
    assert _opp_update(rulebook, NextStep=text) == []
    [v] = _opp_update(rulebook, NextStep=text + text[0])
    assert (v.code, v.field) == ("too_long", "NextStep") and "got 256" in v.message


def test_other_field_types(rulebook: Rulebook) -> None:
    """datetime and boolean fields (not in the template) are checked too."""
    from crmgate.rules.loader import parse_rulebook
    rb = parse_rulebook("""
version: 1
objects:
  Task:
    fields:
      DueAt: {type: datetime}
      Done: {type: boolean}
      Score: {type: integer, max: 10}
risk: {tiers: {low: apply, medium: apply, high: approve, critical: block}}
""")
    def check(**fields):
        return _codes(validate(proposal("Task", "create", "ai:x", fields), None, rb, None))
    for ok in ("2026-01-31T09:30:00Z", "2026-01-31T09:30", "2026-01-31T09:30:00.123+09:00", "2026-01-31T09:30:00+0900"):
        assert check(DueAt=ok) == [], ok
    for bad in ("2026-01-31", "2026-01-31 09:30", "2026-01-31T25:00:00", "yesterday", 1700000000):
        assert check(DueAt=bad) == [("invalid_type", "DueAt")], bad
    assert check(Done=True) == [] and check(Done="true") == [("invalid_type", "Done")]
    assert check(Done=1) == [("invalid_type", "Done")]
    assert check(Score=10) == [] and check(Score=11) == [("out_of_range", "Score")]


def test_update_blanking_required_field(rulebook: Rulebook) -> None:
    """Blanking a required field, by null or by whitespace, is required_field_missing."""
    for blank in (None, "", "   "):
        got = validate(proposal("Lead", "update", "ai:x", {"Company": blank}), lead(), rulebook, LEAD_UC)
        assert _codes(got) == [("required_field_missing", "Company")], blank


def test_blanking_optional_field_is_allowed(rulebook: Rulebook) -> None:
    """Setting a non-required field to null is allowed and not type-checked."""
    got = validate(proposal("Lead", "update", "ai:x", {"Email": None, "NumberOfEmployees": None}),
                   lead(), rulebook, LEAD_UC)
    assert got == []


def test_required_judged_on_after_record(rulebook: Rulebook) -> None:
    """An update need not repeat required fields the current record already has, but a missing
    one on the current record is still missing afterwards."""
    ok = validate(proposal("Lead", "update", "ai:x", {"Rating": "Hot"}), lead(), rulebook, LEAD_UC)
    assert ok == []
    legacy = lead(Company=None)
    bad = validate(proposal("Lead", "update", "ai:x", {"Rating": "Hot"}), legacy, rulebook, LEAD_UC)
    assert _codes(bad) == [("required_field_missing", "Company")]


def test_required_when_on_update(rulebook: Rulebook) -> None:
    """Moving to Negotiation without Amount/NextStep on the record makes both required."""
    current = opp(Amount=None, NextStep="  ")
    got = validate(proposal("Opportunity", "update", "ai:x", {"StageName": "Negotiation"}), current, rulebook, None)
    assert _codes(got) == [("required_field_missing", "Amount"), ("required_field_missing", "NextStep")]
    assert got[0].message == "Amount is required when StageName is Negotiation"


def test_required_when_satisfied_by_current_or_proposal(rulebook: Rulebook) -> None:
    """required_when is satisfied by values from the current record or the proposal."""
    current = opp(Amount=5000, NextStep=None)
    p = proposal("Opportunity", "update", "ai:x", {"StageName": "Closed Won", "NextStep": "Kickoff"})
    assert validate(p, current, rulebook, None) == []


def test_required_when_not_triggered(rulebook: Rulebook) -> None:
    """Outside the condition, Amount and NextStep stay optional."""
    p = proposal("Opportunity", "update", "ai:x", {"StageName": "Proposal"})
    assert validate(p, opp(Amount=None, NextStep=None), rulebook, None) == []


def test_required_when_on_create(rulebook: Rulebook) -> None:
    """A create straight into Closed Won needs Amount and NextStep too."""
    fields = {"Name": "n", "StageName": "Closed Won", "CloseDate": "2026-01-01"}
    got = validate(proposal("Opportunity", "create", "ai:x", fields), None, rulebook, "deal_intake")
    assert _codes(got) == [("required_field_missing", "Amount"), ("required_field_missing", "NextStep")]
    assert got[1].message == "NextStep is required when StageName is Closed Won"


def test_delete_skips_field_checks(rulebook: Rulebook) -> None:
    """A delete of a record that breaks required rules is not judged on fields."""
    got = validate(proposal("Opportunity", "delete", "ai:x"), {"Name": None}, rulebook, "deal_hygiene")
    assert got == []


def test_order_is_stable_and_complete(rulebook: Rulebook) -> None:
    """Violations come allow-first, then per field in sorted order, then required fields."""
    fields = {"Rating": "Lukewarm", "Nickname": "K", "Email": "bad", "Company": None}
    got = validate(proposal("Lead", "update", "ai:x", fields), lead(), rulebook, LEAD_UC)
    assert _codes(got) == [
        ("field_not_allowed", "Nickname"),
        ("invalid_email", "Email"), ("unknown_field", "Nickname"), ("invalid_picklist_value", "Rating"),
        ("required_field_missing", "Company"),
    ]


def test_validate_is_pure(rulebook: Rulebook) -> None:
    """validate leaves its inputs untouched and returns equal results on repeat calls."""
    current = opp()
    p = proposal("Opportunity", "update", "ai:x", {"StageName": "Negotiation"})
    first = validate(p, current, rulebook, None)
    assert validate(p, current, rulebook, None) == first and current == opp()


def test_non_finite_numbers_are_malformed_proposals():
    """NaN and infinities anywhere in fields or inputs are refused when the proposal is parsed:
    they could be neither recorded in the trail nor written."""
    import pydantic
    import pytest as _pytest

    from crmgate.rules.proposal import Proposal

    for bad in ({"fields": {"Amount": float("nan")}}, {"inputs": {"score": [1.0, float("inf")]}}):
        with _pytest.raises(pydantic.ValidationError, match="not a finite number"):
            Proposal.model_validate({"object": "Lead", "op": "create", "actor": "ai:x", **bad})


def test_unrecordable_text_and_deep_nesting_are_malformed_proposals():
    """A lone surrogate or a NUL in any string (values, keys, reasons, ids), and nesting deeper than
    MAX_DEPTH, are refused when parsed: the trail could not hash them, PostgreSQL could not store them."""
    import pydantic
    import pytest as _pytest

    from crmgate.rules.proposal import MAX_DEPTH, Proposal

    deep: dict = {}
    node = deep
    for _ in range(MAX_DEPTH + 1):
        node["x"] = {}
        node = node["x"]
    cases = [
        ({"fields": {"Company": "x\udc00"}}, "not valid Unicode"),
        ({"fields": {"Comp\ud800any": "x"}}, "not valid Unicode"),
        ({"reasons": ["ok", "\ud800"]}, "not valid Unicode"),
        ({"actor": "ai:\udfff"}, "unicode"),  # pydantic's own str check refuses it first
        ({"fields": {"Company": "a\x00b"}}, "NUL"),
        ({"idempotency_key": "k\x00"}, "NUL"),
        ({"inputs": deep}, "nested more than"),
    ]
    for bad, message in cases:
        with _pytest.raises(pydantic.ValidationError, match=message):
            Proposal.model_validate({"object": "Lead", "op": "create", "actor": "ai:x", **bad})
    ok = {"inputs": {"a": [{"b": "가나다 🙂"}]}, "fields": {"Company": "Ünïcode"}}
    assert Proposal.model_validate({"object": "Lead", "op": "create", "actor": "ai:x", **ok})


def test_unrecordable_values_are_named_by_their_exact_path_first_in_order():
    """The message names the first bad value in field order by its full path, after plain items."""
    import re

    import pydantic
    import pytest as _pytest

    from crmgate.rules.proposal import Proposal

    cases = [
        ({"fields": {"A": "ok", "B": 1, "C": True, "D": None, "E": "a\x00"}}, "fields.E holds a NUL character"),
        ({"fields": {"A": "x\x00", "B": "\ud800"}}, "fields.A holds a NUL character"),
        ({"fields": {"A": "é", "N": float("nan")}},
         "fields.N is not a finite number (NaN and infinities cannot be recorded or written)"),
        ({"fields": {"é\ud800": 1}}, "fields key is not valid Unicode text (it holds a lone surrogate)"),
        ({"reasons": ["ok", "b\x00"]}, "reasons[1] holds a NUL character"),
        ({"inputs": {"a": [1, {"b": "ü\x00"}]}}, "inputs.a[1].b holds a NUL character"),
        ({"use_case": "u\x00"}, "use_case holds a NUL character"),
    ]
    for bad, message in cases:
        with _pytest.raises(pydantic.ValidationError, match=re.escape(f"Value error, {message} [")):
            Proposal.model_validate({"object": "Lead", "op": "create", "actor": "ai:x", **bad})
