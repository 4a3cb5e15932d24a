"""BatchGuard.prepare asks each candidate object once, with every create's values merged and sorted."""
from __future__ import annotations

from crmgate.project.scaffold import example_rulebook
from crmgate.rules.loader import parse_rulebook
from crmgate.rules.proposal import Proposal
from crmgate.writes.duplicates import BatchGuard


class Recording:
    """An adapter that finds nothing and remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, dict]] = []

    def find_candidates(self, obj, keys, prefixes):
        self.calls.append((obj, keys, prefixes))
        return []


def _create(obj: str, email: str) -> Proposal:
    return Proposal(object=obj, op="create", actor="ai:intake-1", fields={"LastName": "Ng", "Email": email})


def test_creates_of_two_objects_are_merged_into_one_look_up_per_object():
    """A Lead's same_email rule also looks among Contacts: the Contact look-up carries both objects'
    addresses (plain and without the +tag), sorted and each once; the Lead look-up only the Lead's."""
    rb = parse_rulebook(example_rulebook())
    crm = Recording()
    BatchGuard.prepare(crm, rb, {"Lead", "Contact", "Account"},
                       [_create("Lead", "b+x@acme.example"), _create("Contact", "a@acme.example"),
                        _create("Contact", "b@acme.example")])
    assert [(obj, keys) for obj, keys, _ in crm.calls] == [
        ("Contact", {"Email": ["a@acme.example", "b+x@acme.example", "b@acme.example"]}),
        ("Lead", {"Email": ["b+x@acme.example", "b@acme.example"]}),
    ]
    assert all(type(v) is list for _, keys, prefixes in crm.calls for v in [*keys.values(), *prefixes.values()])


def test_one_objects_creates_are_asked_for_sorted_and_once():
    """The same address twice in a batch is asked for once; values come sorted, as lists."""
    rb = parse_rulebook(example_rulebook())
    crm = Recording()
    BatchGuard.prepare(crm, rb, {"Lead", "Contact"},
                       [_create("Contact", "z@acme.example"), _create("Contact", "a@acme.example"),
                        _create("Contact", "z@acme.example")])
    assert crm.calls == [("Contact", {"Email": ["a@acme.example", "z@acme.example"]},
                          {"Email": ["a+", "z+"]})]
