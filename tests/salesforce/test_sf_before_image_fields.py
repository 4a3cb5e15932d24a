"""Which fields a before-image reads: the version, the rulebook's fields of the object and the
proposal's own, not every field of the object (every field for deletes and enriched objects).

Each test looks at the retrieve's request body (the ``fields`` Salesforce is asked for), at the
records returned, and at what the decision, the trail, the conflict check and rollback make of
them.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from crmgate.adapters.base import Adapter, Record, UpdateRequest
from crmgate.adapters.errors import CRMError, ResponseError
from crmgate.adapters.salesforce.reads import readable, to_record
from crmgate.adapters.salesforce.settings import LoopbackSession
from crmgate.project.scaffold import example_rulebook
from crmgate.rules.loader import parse_rulebook
from crmgate.rules.proposal import Proposal
from crmgate.writes.before_images import narrows, read_before_images
from tests.fakes.salesforce_fake import stamp_text
from tests.salesforce.conftest import lead_update, seed_leads, trail

LEAD_SCHEMA = ["LastName", "Company", "Email", "Country", "NumberOfEmployees", "Rating", "OwnerId", "FirstName",
               "Phone"]


@pytest.fixture
def asked(fake, make_adapter):
    """An adapter whose retrieves are recorded: the ``fields`` of each, in call order."""
    seen: list[list[str]] = []

    def hook(response: Any, *args: Any, **kwargs: Any) -> None:
        if response.request.method == "POST" and response.request.url.endswith("composite/sobjects/Lead"):
            seen.append(json.loads(response.request.body)["fields"])

    session = LoopbackSession(fake.url.split("://", 1)[1])
    session.hooks["response"].append(hook)
    return make_adapter(session=session), seen


def test_get_many_with_fields_asks_for_those_and_the_version_only(fake, asked):
    """fields= narrows the retrieve to Id, SystemModstamp and the readable names asked for; a name
    the object lacks is left out (it would fail the whole call), display-only stamps are not read."""
    adapter, seen = asked
    [rid] = seed_leads(fake, 1)
    found = adapter.get_many("Lead", [rid], fields={"NumberOfEmployees", "No_Such__c", "SystemModstamp", "Company"})
    assert seen == [["Id", "SystemModstamp", "Company", "NumberOfEmployees"]]
    rec = found[rid]
    assert rec.fields == {"Company": "Co 0", "NumberOfEmployees": 1}
    assert rec.version == stamp_text(fake.rows[rid].stamp) and rec.meta == {}
    assert adapter.get_many("Lead", [rid], fields=())[rid].fields == {}
    assert seen[-1] == ["Id", "SystemModstamp"]


def test_get_many_without_fields_reads_every_readable_field(fake, asked):
    adapter, seen = asked
    [rid] = seed_leads(fake, 1)
    rec = adapter.get_many("Lead", [rid])[rid]
    assert seen == [list(adapter.read_fields("Lead"))] and len(seen[0]) > 30
    assert rec.fields["LastName"] == "Lead 0" and "CreatedById" in rec.meta


def test_an_update_reads_the_rulebooks_fields_and_its_own(fake, asked, make_gate):
    """Through the Gate: the before-image holds the Lead schema's fields and the proposal's (Title is
    neither in the schema nor proposed: not read, not in the trail); the decision, the trail's
    before-image and the rollback work from it."""
    adapter, seen = asked
    ids = seed_leads(fake, 2)
    fake.edit("Lead", ids[0], {"Title": "CEO"})
    fake.clock.advance(5)
    gate = make_gate(adapter)
    outs = gate.propose([lead_update(ids[0], NumberOfEmployees=250), lead_update(ids[1], Description="x")])
    assert [o.status for o in outs] == ["applied", "rejected"]  # Description: not a rulebook field
    readable = adapter.read_fields("Lead")
    assert seen[0] == ["Id", "SystemModstamp", *[f for f in readable if f in {*LEAD_SCHEMA, "Description"}]]
    assert "Title" not in seen[0] and "Description" in seen[0]
    decided = trail(gate, "proposal.decided")
    assert decided[0].data["before"]["fields"] == {"LastName": "Lead 0", "Company": "Co 0", "NumberOfEmployees": 1,
                                                   "OwnerId": fake.record(ids[0])["OwnerId"]}
    assert decided[0].data["decision"]["changes"] == [{"field": "NumberOfEmployees", "before": 1, "after": 250}]
    fake.clock.advance(5)
    report = gate.rollback_many(batch=outs[0].batch_id)
    assert [c.status for c in report.changes] == ["reverted"]
    assert fake.record(ids[0])["NumberOfEmployees"] == 1 and fake.record(ids[0])["Title"] == "CEO"


def test_a_delete_reads_every_field(fake, asked, make_gate):
    """A delete's changes are every current field (a rollback re-creates from them): a full read."""
    adapter, seen = asked
    [rid] = seed_leads(fake, 1)
    fake.edit("Lead", rid, {"Title": "CEO"})
    fake.clock.advance(5)
    gate = make_gate(adapter)
    [out] = gate.propose([{"object": "Lead", "op": "delete", "record_id": rid, "actor": "ai:lead-intake-1"}])
    assert seen == [list(adapter.read_fields("Lead"))]
    assert {"field": "Title", "before": "CEO", "after": None} in [c.to_dict() for c in out.changes]


def test_a_same_second_edit_of_a_field_read_is_a_conflict_and_of_another_is_not(fake, adapter, sleeps):
    """An unsettled narrowed before-image is re-read (every field) after its second: a difference in
    a field it holds is a conflict; fields it did not read are not compared (a re-read is not a
    change), so an edit to one of them alone does not stop the write."""
    a = fake.seed("Lead", {"LastName": "Ng", "Company": "Initech"})  # stamped now: unsettled
    b = fake.seed("Lead", {"LastName": "Ho", "Company": "Initrode"})
    before = adapter.get_many("Lead", [a, b], fields={"NumberOfEmployees", "Company"})
    fake.edit("Lead", a, {"Company": "Globex"}, user="005000000000001AAA")
    fake.edit("Lead", b, {"Title": "CTO"}, user="005000000000001AAA")
    # the edits land in the same second: the versions have not moved
    assert [stamp_text(fake.rows[i].stamp) for i in (a, b)] == [before[a].version, before[b].version]
    results = adapter.update_many("Lead", [UpdateRequest(i, {"NumberOfEmployees": 5}, before[i].version)
                                           for i in (a, b)])
    assert [r.status for r in results] == ["conflict", "ok"] and sleeps == [1.0]
    assert fake.record(a).get("NumberOfEmployees") is None and fake.record(b)["NumberOfEmployees"] == 5


class _Recording(Adapter):
    """An adapter that records what get_many was asked; ``narrow``: whether it takes ``fields=``."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, Any]] = []

    def objects(self) -> Sequence[str]:
        return ("Lead", "Opportunity")

    def get_many(self, object: str, ids: Sequence[str], fields: Any = None) -> dict[str, Record]:
        self.asked.append((object, None if fields is None else sorted(fields)))
        return {i: Record(object, i, {}, "v1") for i in ids}

    create_many = update_many = delete_many = None  # type: ignore[assignment]


class _Older(_Recording):
    def get_many(self, object: str, ids: Sequence[str]) -> dict[str, Record]:  # type: ignore[override]
        return super().get_many(object, ids)


def _proposals(*items: Mapping[str, Any]) -> list[Proposal]:
    return [Proposal.model_validate({"actor": "ai:x", **p}) for p in items]


def test_read_before_images_asks_per_object_and_op():
    """One get_many per object: updates ask for schema + proposed fields; a delete of the object, or
    an enrichment section for it, asks for every field; creates read nothing."""
    rb = parse_rulebook(example_rulebook())
    lead = sorted({*LEAD_SCHEMA, "Title"})
    adapter = _Recording()
    found, errors = read_before_images(adapter, rb, ("Lead", "Opportunity"), _proposals(
        {"object": "Lead", "op": "update", "record_id": "L1", "fields": {"Title": "x"}},
        {"object": "Lead", "op": "create", "fields": {"LastName": "n", "Company": "c"}},
        {"object": "Opportunity", "op": "update", "record_id": "O1", "fields": {"Amount": 1}},
        {"object": "Opportunity", "op": "delete", "record_id": "O2"}))
    assert adapter.asked == [("Lead", lead), ("Opportunity", None)]
    assert set(found) == {("Lead", "L1"), ("Opportunity", "O1"), ("Opportunity", "O2")} and errors == {}
    enriched = rb.model_copy(update={"enrichment": {"Lead": object()}})
    adapter = _Recording()
    read_before_images(adapter, enriched, ("Lead",), _proposals(
        {"object": "Lead", "op": "update", "record_id": "L1", "fields": {"Title": "x"}}))
    assert adapter.asked == [("Lead", None)]


def test_an_adapter_without_fields_is_called_as_before():
    """The interface's older get_many(object, ids) is still called without fields=."""
    assert narrows(_Recording()) and not narrows(_Older())
    adapter = _Older()
    found, _ = read_before_images(adapter, parse_rulebook(example_rulebook()), ("Lead",), _proposals(
        {"object": "Lead", "op": "update", "record_id": "L1", "fields": {"Rating": "Hot"}}))
    assert adapter.asked == [("Lead", None)] and set(found) == {("Lead", "L1")}


class _Failing(_Recording):
    def get_many(self, object: str, ids: Sequence[str], fields: Any = None) -> dict[str, Record]:
        raise CRMError("down", code="SERVER_UNAVAILABLE", status=503)


def test_a_failed_read_is_that_objects_error():
    """A CRM error reading one object is returned for that object; no record of it is found."""
    found, errors = read_before_images(_Failing(), parse_rulebook(example_rulebook()), ("Lead",), _proposals(
        {"object": "Lead", "op": "update", "record_id": "L1", "fields": {"Rating": "Hot"}}))
    assert found == {} and list(errors) == ["Lead"] and errors["Lead"].code == "SERVER_UNAVAILABLE"


class _Opaque:
    """A callable whose signature cannot be read (``error`` is what reading it raises)."""

    def __init__(self, error: type[Exception]) -> None:
        self.error = error

    @property
    def __signature__(self) -> Any:
        raise self.error("no signature")

    def __call__(self, object: str, ids: Sequence[str]) -> dict[str, Record]:
        return {}


@pytest.mark.parametrize("error", [TypeError, ValueError])
def test_an_adapter_whose_signature_cannot_be_read_is_called_without_fields(error):
    """inspect.signature raising (TypeError or ValueError) means: call get_many as before."""
    class Opaque(_Recording):
        get_many = _Opaque(error)  # type: ignore[assignment]

    assert not narrows(Opaque())


def test_readable_fields_are_the_writable_ones_that_can_be_read():
    """From describe: createable or updateable, not of an unreadable type, not the upsert key."""
    describe = {"fields": [
        {"name": "A", "type": "string", "createable": True, "updateable": True},
        {"name": "CreateOnly", "type": "string", "createable": True, "updateable": False},
        {"name": "UpdateOnly", "type": "string", "createable": False, "updateable": True},
        {"name": "ReadOnly", "type": "string", "createable": False, "updateable": False},
        {"name": "Address", "type": "address", "createable": True, "updateable": True},
        {"name": "Key__c", "type": "string", "createable": True, "updateable": True},
    ]}
    assert readable(describe, "Key__c") == ("A", "CreateOnly", "UpdateOnly")


@pytest.mark.parametrize("row", [["not", "a", "mapping"], {"SystemModstamp": "2026-01-01T00:00:00.000+0000"},
                                 {"Id": "00Q000000000001EAA"}, {"Id": 7, "SystemModstamp": "x"}])
def test_a_row_without_id_or_version_is_a_malformed_answer(row):
    with pytest.raises(ResponseError):
        to_record("Lead", row, frozenset())
