"""Fixtures for the HubSpot adapter tests: a fake HubSpot on 127.0.0.1 and adapters pointed at it."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crmgate.adapters.hubspot.adapter import HubSpotAdapter
from tests.fakes.hubspot_fake import FakeHubSpot, ManualClock

TOKEN = "pat-test-token"


@pytest.fixture
def hs_clock() -> ManualClock:
    """Epoch seconds shared by the fake (stamps, rate window) and the adapter (limiter, ages)."""
    return ManualClock()


@pytest.fixture
def fake(hs_clock: ManualClock) -> Iterator[FakeHubSpot]:
    with FakeHubSpot(token=TOKEN, clock=hs_clock) as server:
        yield server


@pytest.fixture
def make_hs(fake: FakeHubSpot, hs_clock: ManualClock) -> Callable[..., HubSpotAdapter]:
    """An adapter on the fake; keyword arguments override the constructor's defaults."""
    def make(**kw: Any) -> HubSpotAdapter:
        args: dict[str, Any] = dict(token=TOKEN, host=fake.url, clock=hs_clock, sleep=hs_clock.sleep,
                                    jitter=lambda: 0.0)
        return HubSpotAdapter(**{**args, **kw})
    return make


@pytest.fixture
def hs(make_hs: Callable[..., HubSpotAdapter]) -> HubSpotAdapter:
    return make_hs()


HUBSPOT_RULES = """\
version: 1
objects:
  deals:
    fields:
      dealname:    {type: string, required: true, max_length: 120}
      dealstage:   {type: picklist, required: true,
                    values: [appointmentscheduled, qualifiedtobuy, contractsent, closedwon, closedlost]}
      amount:      {type: number, min: 0}
      closedate:   {type: date}
      description: {type: string}
      hubspot_owner_id: {type: reference}
  contacts:
    fields:
      email:     {type: email}
      firstname: {type: string}
      lastname:  {type: string}
      jobtitle:  {type: string}
risk:
  default: low
  tiers: {low: apply, medium: apply, high: approve, critical: block}
  rules:
    - {fields: [hubspot_owner_id], tier: high}
    - {op: delete, tier: critical}
use_cases:
  deal_hygiene:
    actors: ["ai:deal-hygiene"]
    mode: enforce
    allow:
      deals: {ops: [create, update], fields: [dealname, dealstage, amount, closedate, description]}
  contact_enrichment:
    actors: ["ai:enricher"]
    mode: enforce
    allow:
      contacts: {ops: [create, update], fields: [email, firstname, lastname, jobtitle]}
"""


@pytest.fixture
def hs_gate(tmp_path, clock, ids):
    """``make(adapter)``: a Gate on the HubSpot rulebook with a signed SQLite trail."""
    from crmgate.gate import Gate
    from crmgate.rules.loader import parse_rulebook
    from crmgate.trail import TrailStore, generate_keypair, load_signer

    generate_keypair(tmp_path / "trail.key", tmp_path / "trail.pub")
    signer = load_signer(tmp_path / "trail.key", env={})
    made: list[Any] = []

    def make(adapter: HubSpotAdapter) -> Gate:
        store = TrailStore(f"sqlite:///{tmp_path / 'trail.db'}", signer=signer, clock=clock)
        gate = Gate(rulebook=parse_rulebook(HUBSPOT_RULES, source="hubspot-rules.yaml"), adapter=adapter,
                    store=store, clock=clock, ids=ids)
        made.append(gate)
        return gate

    yield make
    for gate in made:
        gate.store.close()


def deal_update(record_id: str, **fields: Any) -> dict[str, Any]:
    return {"object": "deals", "op": "update", "record_id": record_id, "actor": "ai:deal-hygiene",
            "confidence": 0.9, "fields": fields}
