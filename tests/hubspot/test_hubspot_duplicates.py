"""The duplicate guard on HubSpot: CRM search requests shaped as documented, at search's own rate."""
from __future__ import annotations

from crmgate.gate import Gate
from crmgate.rules.loader import parse_rulebook
from tests.hubspot.conftest import HUBSPOT_RULES

MATCHING = """
matching:
  contacts:
    rules:
      - id: same_email
        keys: [{kind: email, fields: [email], plus_addressing: true}]
        action: block
      - id: same_person_same_domain
        keys:
          - {kind: person_name, fields: [firstname, lastname]}
          - {kind: email_domain, fields: [email]}
        action: queue
"""


def test_search_requests_are_shaped_as_documented(fake, hs):
    a = fake.seed("contacts", {"email": "ada@analytical.example", "firstname": "Ada", "lastname": "Lovelace"})
    fake.seed("contacts", {"email": "grace@navy.example", "firstname": "Grace", "lastname": "Hopper"})
    emails = [f"p{i}@x.example" for i in range(150)] + ["ada@analytical.example"]
    found = hs.find_candidates("contacts", {"email": emails}, {"lastname": ["love", "hopp", "a b"]})
    assert {r.id for r in found} == {a, *[r.id for r in found if r.fields.get("lastname") == "Hopper"]}
    assert len(found) == 2
    bodies = [s["body"] for s in fake.searches]
    assert len(bodies) == 1  # 2 IN filters (100 + 51 values) and 2 prefixes: 4 groups, one request
    groups = bodies[0]["filterGroups"]
    assert [g["filters"][0]["operator"] for g in groups] == ["IN", "IN", "CONTAINS_TOKEN", "CONTAINS_TOKEN"]
    assert len(groups[0]["filters"][0]["values"]) == 100 and groups[2]["filters"][0]["value"] == "hopp*"
    assert bodies[0]["limit"] == 200 and "email" in bodies[0]["properties"]
    assert all(len(g["filters"]) == 1 for g in groups)


def test_search_keeps_to_its_own_rate(fake, hs, hs_clock):
    prefixes = {"lastname": [f"n{i:02d}" for i in range(30)]}  # 30 groups: 6 requests of 5
    start = hs_clock()
    hs.find_candidates("contacts", {}, prefixes)
    assert len(fake.searches) == 6
    assert [c.status for c in fake.calls if c.path.endswith("/search")] == [200] * 6  # never a 429
    assert hs_clock() - start >= 1.0  # the 5th request waited for the 4-per-second window


def test_the_gate_blocks_a_duplicate_contact_on_hubspot(fake, hs, tmp_path, clock, ids):
    from crmgate.trail import TrailStore, generate_keypair, load_signer

    existing = fake.seed("contacts", {"email": "ada@analytical.example", "firstname": "Ada", "lastname": "Lovelace"})
    generate_keypair(tmp_path / "k", tmp_path / "k.pub")
    store = TrailStore(f"sqlite:///{tmp_path / 't.db'}", signer=load_signer(tmp_path / "k", env={}), clock=clock)
    gate = Gate(rulebook=parse_rulebook(HUBSPOT_RULES + MATCHING), adapter=hs, store=store, clock=clock, ids=ids)
    out = gate.propose([{"object": "contacts", "op": "create", "actor": "ai:enricher",
                         "fields": {"email": "Ada+news@Analytical.example", "firstname": "Ada", "lastname": "Lovelace"}}])
    assert out[0].status == "rejected" and out[0].extra["duplicates"]["candidates"][0]["id"] == existing
    assert [s["object"] for s in fake.searches] == ["contacts"]
    store.close()
