"""Values the matcher cannot read (a list where a name belongs) are refused by the rules, never a crash."""
from __future__ import annotations

from tests.duplicates.conftest import intake, propose

from crmgate.rules import normalise as norm


def test_a_list_in_a_name_field_is_an_invalid_type_not_a_stack_trace(run):
    """The duplicate guard reads the name before the rules judge it: a JSON list there gives no match
    key, and the create is rejected for its type like any other bad value."""
    [out] = propose(run, intake("Contact", FirstName=["Ada"], LastName="Lovelace", Email="ada@analytical.example"))
    assert out["status"] == "rejected"
    assert [(v["code"], v["field"]) for v in out["violations"]] == [("invalid_type", "FirstName")]


def test_keys_of_unhashable_values_are_empty():
    """Folding and name keys treat a list or a dict as no text at all."""
    assert norm.fold(["Ada"]) == "" and norm.fold({"a": 1}) == ""
    assert norm.person_name(["Ada"], "Lovelace") == "lovelace"
    assert norm.company_name(["Acme"]) is None and norm.email(["a@b.co"]) is None
