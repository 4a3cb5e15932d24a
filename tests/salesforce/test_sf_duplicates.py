"""The duplicate guard on Salesforce: one SOQL query per candidate object per batch, answered by the fake."""
from __future__ import annotations

from tests.salesforce.conftest import seed_leads  # noqa: F401 (fixtures module)


def _create(obj: str, **fields) -> dict:
    return {"object": obj, "op": "create", "actor": "ai:intake-1", "fields": fields}


def test_one_query_per_object_per_batch_and_the_matches_decide(fake, adapter, make_gate, clock):
    contact = fake.seed("Contact", {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@analytical.example"})
    account = fake.seed("Account", {"Name": "Acme Inc", "Website": "https://www.acme.example/about"})
    clock.advance(5)
    gate = make_gate(adapter)
    before = len(fake.calls)
    outs = gate.propose([
        _create("Lead", FirstName="Ada", LastName="Lovelace", Company="Analytical", Email="ADA@Analytical.example"),
        _create("Lead", FirstName="Grace", LastName="Hopper", Company="Navy Labs", Email="grace@navy.example"),
        _create("Account", Name="ACME, Inc."),
        _create("Contact", FirstName="Alan", LastName="Turing", Email="alan@bletchley.example"),
    ])
    assert [o.status for o in outs] == ["rejected", "applied", "queued", "applied"]
    assert outs[0].extra["duplicates"]["candidates"][0]["id"] == contact
    assert outs[2].extra["duplicates"]["candidates"][0]["id"] == account
    queries = [c for c in fake.calls[before:] if c.kind == "query"]
    assert len(queries) == 3 == len(fake.queries)  # Account, Contact, Lead: once each for the batch
    by_object = {q.split(" FROM ")[1].split(" ")[0]: q for q in fake.queries}
    assert set(by_object) == {"Account", "Contact", "Lead"}
    assert "Email IN ('ada@analytical.example', 'alan@bletchley.example', " in by_object["Contact"]
    assert "Email LIKE 'ada+%'" in by_object["Contact"] and "LastName LIKE 'love%'" in by_object["Contact"]
    assert "Name LIKE 'acme%'" in by_object["Account"] and " LIMIT 2000" in by_object["Account"]


def test_quotes_and_wildcards_are_escaped(fake, adapter):
    fake.seed("Account", {"Name": "O'Brien_100% Ltd"})
    found = adapter.find_candidates("Account", {"Name": ["o'brien_100% ltd"]}, {"Name": ["o'br", "o_b"]})
    assert [r.fields["Name"] for r in found] == ["O'Brien_100% Ltd"]
    assert "Name IN ('o\\'brien_100% ltd')" in fake.queries[-1]
    assert "Name LIKE 'o\\_b%'" in fake.queries[-1]
