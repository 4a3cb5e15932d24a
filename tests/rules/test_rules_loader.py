"""Rulebook schema and loader: the template loads; every kind of bad rulebook is located precisely."""
from __future__ import annotations

import pytest

from crmgate.rules.loader import RulebookError, RulebookProblem, load_rulebook, parse_rulebook
from crmgate.rules.schema import TIERS, Rulebook


def _problems(text: str) -> list[RulebookProblem]:
    with pytest.raises(RulebookError) as info:
        parse_rulebook(text, "rb.yaml")
    assert info.value.source == "rb.yaml"
    return info.value.problems


def _broken(template: str, old: str, new: str) -> list[RulebookProblem]:
    assert old in template, old  # guard: the edit must really happen
    return _problems(template.replace(old, new, 1))


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_template_loads_with_expected_content(rulebook: Rulebook) -> None:
    """The shipped template parses into the objects, tiers and use cases the spec describes."""
    assert set(rulebook.objects) == {"Opportunity", "Lead", "Contact", "Account"}
    assert rulebook.objects["Opportunity"].fields["StageName"].values[-1] == "Closed Lost"
    assert rulebook.objects["Opportunity"].required_when[0].fields == ["Amount", "NextStep"]
    assert rulebook.risk.tiers.critical == "block" and rulebook.risk.default == "low"
    assert len(rulebook.risk.rules) == 4 and rulebook.risk.rules[1].change_over_pct == 20
    assert list(rulebook.use_cases) == ["deal_intake", "deal_hygiene", "lead_intake", "lead_scoring", "intake"]
    assert list(rulebook.matching) == ["Lead", "Contact", "Account"]
    assert rulebook.use_cases["deal_hygiene"].min_confidence == 0.7
    assert rulebook.use_cases["lead_scoring"].mode == "shadow"
    assert TIERS == ("low", "medium", "high", "critical")


def test_version_hash_is_stable_and_content_sensitive(rulebook: Rulebook, template_text: str) -> None:
    """version_hash is a sha256 hex that ignores formatting and comments but changes with any rule."""
    again = parse_rulebook("# another comment\n" + template_text)
    assert rulebook.version_hash == again.version_hash
    assert len(rulebook.version_hash) == 64 and int(rulebook.version_hash, 16) >= 0
    changed = parse_rulebook(template_text.replace("change_over_pct: 20", "change_over_pct: 25"))
    assert changed.version_hash != rulebook.version_hash


def test_rulebook_is_frozen(rulebook: Rulebook) -> None:
    """A loaded rulebook cannot be mutated in place."""
    from pydantic import ValidationError
    with pytest.raises(ValidationError, match="frozen"):
        rulebook.version = 2  # type: ignore[misc]


def test_typo_in_key_is_reported_with_suggestion(template_text: str) -> None:
    """An unknown key is rejected at its exact path and line, with the allowed keys and a hint."""
    [p] = _broken(template_text, "required: true, max_length: 120", "requried: true, max_length: 120")
    assert p.path == "objects.Opportunity.fields.Name.requried"
    assert "unknown key 'requried'" in p.message and "did you mean 'required'?" in p.message
    assert p.line == _line_of(template_text, "Name:                 {type: string")


def test_bad_tier_names_expected_and_found(template_text: str) -> None:
    """A misspelled tier gives the allowed tiers and the bad value, at risk.rules[i].tier."""
    [p] = _broken(template_text, "{op: delete, tier: critical}", "{op: delete, tier: hgh}")
    assert p.path == "risk.rules[3].tier"
    assert p.message == "expected one of low, medium, high, critical; got 'hgh'"
    assert p.line == _line_of(template_text, "{op: delete, tier: critical}")


def test_tier_actions_must_be_known(template_text: str) -> None:
    """A tier mapped to an unknown action is rejected at risk.tiers.<tier>."""
    [p] = _broken(template_text, "high: approve", "high: aprove")
    assert p.path == "risk.tiers.high"
    assert p.message == "expected one of apply, approve, block; got 'aprove'"


def test_picklist_without_values(template_text: str) -> None:
    """A picklist with no values is rejected at <field>.values."""
    [p] = _broken(template_text, "Rating:            {type: picklist, values: [Hot, Warm, Cold]}",
                  "Rating:            {type: picklist}")
    assert p.path == "objects.Lead.fields.Rating.values"
    assert "picklist fields need a non-empty list of values" in p.message
    assert p.line == _line_of(template_text, "Rating:            {type: picklist")


@pytest.mark.parametrize(("old", "new", "path", "fragment"), [
    ("Country:           {type: string, max_length: 2}", "Country:           {type: string, values: [KR]}",
     "objects.Lead.fields.Country.values", "only allowed on picklist"),
    ("CloseDate:            {type: date, required: true}", "CloseDate:            {type: date, min: 0}",
     "objects.Opportunity.fields.CloseDate.min", "only allowed on number and integer"),
    ("NumberOfEmployees: {type: integer, min: 0}", "NumberOfEmployees: {type: integer, max_length: 3}",
     "objects.Lead.fields.NumberOfEmployees.max_length", "only allowed on string"),
    ("Amount:               {type: number, min: 0}", "Amount:               {type: number, min: 5, max: 1}",
     "objects.Opportunity.fields.Amount.max", "expected max >= min"),
    ("Email:             {type: email}", "Email:             {type: mail}",
     "objects.Lead.fields.Email.type", "got 'mail'"),
])
def test_field_options_must_fit_type(template_text: str, old: str, new: str, path: str, fragment: str) -> None:
    """Options that do not fit the field type, and unknown types, are rejected at the option."""
    [p] = _broken(template_text, old, new)
    assert p.path == path and fragment in p.message


def test_unknown_field_in_allow(template_text: str) -> None:
    """A use case may only allow fields that exist on the object."""
    [p] = _broken(template_text, "fields: [Rating]}", "fields: [Ratng]}")
    assert p.path == "use_cases.lead_scoring.allow.Lead.fields[0]"
    assert "known field of Lead" in p.message and "got 'Ratng'" in p.message
    assert p.line == _line_of(template_text, "Lead: {ops: [update], fields: [Rating]}")


def test_unknown_object_in_allow(template_text: str) -> None:
    """A use case may only allow objects the rulebook defines."""
    [p] = _broken(template_text, "Lead: {ops: [update], fields: [Rating]}", "Campaign: {ops: [update]}")
    assert p.path == "use_cases.lead_scoring.allow.Campaign"
    assert "got 'Campaign'" in p.message


def test_unknown_field_in_required_when(template_text: str) -> None:
    """required_when fields and when-keys must exist on the object."""
    [p] = _broken(template_text, "fields: [Amount, NextStep]", "fields: [Amount, NxtStep]")
    assert p.path == "objects.Opportunity.required_when[0].fields[1]"
    assert "got 'NxtStep'" in p.message
    [q] = _broken(template_text, "when: {StageName: {in:", "when: {Stage: {in:")
    assert q.path == "objects.Opportunity.required_when[0].when.Stage"


def test_bad_operator_in_when(template_text: str) -> None:
    """An unknown condition operator is reported at when.<field>.<op>."""
    [p] = _broken(template_text, "{StageName: {in: [", "{StageName: {inn: [")
    assert p.path == "objects.Opportunity.required_when[0].when.StageName.inn"
    assert "expected an operator" in p.message and "got 'inn'" in p.message


@pytest.mark.parametrize(("old", "new", "path", "fragment"), [
    ("{fields: [ForecastCategoryName, OwnerId], tier: high}", "{fields: [ForecastCategory, OwnerId], tier: high}",
     "risk.rules[0].fields[0]", "got 'ForecastCategory'"),
    ("{object: Opportunity, field: Amount,", "{object: Lead, field: Amount,",
     "risk.rules[1].field", "known field of Lead"),
    ("{object: Opportunity, field: StageName,", "{object: Opp, field: StageName,",
     "risk.rules[2].object", "got 'Opp'"),
    ("to: [Closed Won, Closed Lost]", "to: [Closed Won, Closed Lst]",
     "risk.rules[2].to[1]", "got 'Closed Lst'"),
    ("{op: delete, tier: critical}", "{tier: critical}", "risk.rules[3]", "at least one of"),
    ("{op: delete, tier: critical}", "{op: remove, tier: critical}", "risk.rules[3].op", "got 'remove'"),
    ("{op: delete, tier: critical}", "{op: delete}", "risk.rules[3].tier", "required key 'tier' is missing"),
    ("field: Amount, change_over_pct: 20", "field: Name, change_over_pct: 20",
     "risk.rules[1].change_over_pct", "needs a number or integer field"),
    ("field: Amount, change_over_pct: 20", "fields: [Amount], field: Name, change_over_pct: 20",
     "risk.rules[1].fields", "either field or fields"),
])
def test_bad_risk_rules(template_text: str, old: str, new: str, path: str, fragment: str) -> None:
    """Risk rules must name existing objects/fields, valid picklist targets, ops and a tier."""
    problems = _broken(template_text, old, new)
    assert problems[0].path == path and fragment in problems[0].message, problems


def test_use_case_constraints(template_text: str) -> None:
    """Use cases need actors, a known mode and min_confidence within 0..1."""
    [p] = _broken(template_text, 'actors: ["ai:lead-scorer*"]', "actors: []")
    assert p.path == "use_cases.lead_scoring.actors" and "at least 1" in p.message
    [q] = _broken(template_text, "mode: shadow", "mode: shadw")
    assert q.message == "expected one of enforce, suggest, shadow; got 'shadw'"
    [r] = _broken(template_text, "min_confidence: 0.7", "min_confidence: 7")
    assert r.path == "use_cases.deal_hygiene.min_confidence" and "<= 1" in r.message


def test_wrong_version(template_text: str) -> None:
    """Only version 1 is accepted."""
    [p] = _broken(template_text, "version: 1", "version: 2")
    assert (p.path, p.message, p.line) == ("version", "expected 1; got 2", _line_of(template_text, "version: 1"))


def test_strict_types_do_not_coerce(template_text: str) -> None:
    """A quoted number or a string boolean is a type error, not silently coerced."""
    [p] = _broken(template_text, "max_length: 120", 'max_length: "120"')
    assert p.path == "objects.Opportunity.fields.Name.max_length"
    assert p.message == "expected an integer; got '120' (str)"


def test_several_problems_are_all_reported(template_text: str) -> None:
    """Shape errors in different places are reported together, not one at a time."""
    text = template_text.replace("tier: critical}", "tier: hgh}").replace("mode: shadow", "mode: x")
    paths = [p.path for p in _problems(text)]
    assert paths == ["risk.rules[3].tier", "use_cases.lead_scoring.mode"]


def test_duplicate_key_is_an_error(template_text: str) -> None:
    """YAML would silently keep the last of two equal keys; the loader refuses instead."""
    text = template_text.replace("  Lead:\n    fields:", "  Opportunity:\n    fields:", 1)
    [p] = _problems(text)
    assert p.path == "objects.Opportunity" and "duplicate key" in p.message
    assert p.line == _line_of(template_text, "  Lead:")


@pytest.mark.parametrize(("text", "fragment", "line"), [
    ("", "empty document", None),
    ("# only a comment\n", "empty document", None),
    ("version: 1\nobjects: [\n", "invalid YAML", 3),
    ("- 1\n- 2\n", "expected a mapping at the top level; got list", 1),
    ("just a string", "got str", 1),
])
def test_document_level_errors(text: str, fragment: str, line: int | None) -> None:
    """Empty, unparsable or non-mapping documents give exactly one document-level problem."""
    [p] = _problems(text)
    assert p.path == "" and fragment in p.message and p.line == line


def test_missing_file(tmp_path) -> None:
    """A missing file is a RulebookError naming the file, not an OSError."""
    missing = tmp_path / "nope.yaml"
    with pytest.raises(RulebookError) as info:
        load_rulebook(missing)
    assert info.value.source == str(missing)
    [p] = info.value.problems
    assert p.path == "" and p.message.startswith("cannot read file")


def test_load_from_path_equals_parse(template_path, template_text: str) -> None:
    """load_rulebook and parse_rulebook agree on the same content."""
    assert load_rulebook(template_path) == parse_rulebook(template_text)


def test_error_serialisation(template_text: str) -> None:
    """to_dict has the stable shape and str() is a readable multi-line report."""
    with pytest.raises(RulebookError) as info:
        parse_rulebook(template_text.replace("tier: critical}", "tier: hgh}"), "rules.yaml")
    err = info.value
    assert err.to_dict() == {"code": "invalid_rulebook", "source": "rules.yaml", "problems": [
        {"path": "risk.rules[3].tier", "message": "expected one of low, medium, high, critical; got 'hgh'",
         "line": _line_of(template_text, "{op: delete, tier: critical}")}]}
    lines = str(err).splitlines()
    assert lines[0] == "invalid rulebook rules.yaml: 1 problem"
    assert lines[1].startswith("  - risk.rules[3].tier (line ")


def test_direct_construction_also_cross_checks() -> None:
    """Building a Rulebook in Python runs the same cross-reference checks as the loader."""
    from pydantic import ValidationError
    data = {"version": 1, "objects": {"Lead": {"fields": {"LastName": {"type": "string"}}}},
            "risk": {"tiers": {"low": "apply", "medium": "apply", "high": "approve", "critical": "block"},
                     "rules": [{"field": "Nope", "tier": "high"}]}}
    with pytest.raises(ValidationError, match=r"risk\.rules\[0\]\.field"):
        Rulebook.model_validate(data)
