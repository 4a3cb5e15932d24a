"""Fixtures: a loopback fake org on the shared FakeClock, and adapters pointed at it."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from crmgate.adapters.salesforce.adapter import SalesforceAdapter
from tests.fakes.salesforce_fake import SESSION_ID, SalesforceFake

KEY_FIELD = "Crmgate_Key__c"
ENV = {"SALESFORCE_SESSION_ID": SESSION_ID}


@pytest.fixture
def fake(clock) -> Iterator[SalesforceFake]:
    with SalesforceFake(clock=clock, extra_fields={KEY_FIELD: {"externalId": True, "unique": True}}) as org:
        yield org


@pytest.fixture
def sleeps() -> list[float]:
    """Every wait the adapter asked for, in order (nothing really sleeps)."""
    return []


@pytest.fixture
def make_adapter(fake, clock, sleeps):
    made: list[SalesforceAdapter] = []

    def make(adapter_clock: Any = None, session: Any = None, **settings: Any) -> SalesforceAdapter:
        # one call at a time unless a test asks for more, so call logs and injected faults keep
        # their order (concurrent chunks have their own tests)
        base = {"instance_url": fake.url, "api_version": "59.0", "idempotency_field": KEY_FIELD, "concurrency": 1}
        adapter = SalesforceAdapter.from_settings({**base, **settings}, env=ENV, sleep=sleeps.append,
                                                  jitter=lambda: 0.5, clock=adapter_clock or clock,
                                                  **({"session": session} if session is not None else {}))
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()


@pytest.fixture
def adapter(make_adapter) -> SalesforceAdapter:
    return make_adapter()


@pytest.fixture
def make_gate(tmp_path, clock, ids):
    """A Gate over a Salesforce adapter with the example rulebook and a signed SQLite trail."""
    from crmgate.gate import Gate
    from crmgate.project.scaffold import example_rulebook
    from crmgate.rules.loader import parse_rulebook
    from crmgate.trail import TrailStore, generate_keypair, load_signer

    generate_keypair(tmp_path / "trail.key", tmp_path / "trail.pub")
    signer = load_signer(tmp_path / "trail.key", env={})
    made: list[Any] = []

    def make(adapter: SalesforceAdapter) -> Gate:
        store = TrailStore(f"sqlite:///{tmp_path / 'trail.db'}", signer=signer, clock=clock)
        gate = Gate(rulebook=parse_rulebook(example_rulebook()), adapter=adapter, store=store, clock=clock, ids=ids)
        made.append(gate)
        return gate

    yield make
    for gate in made:
        gate.store.close()


def seed_leads(fake: SalesforceFake, n: int) -> list[str]:
    """``n`` existing Leads, stamped in the past so their versions are settled when read."""
    ids = [fake.seed("Lead", {"LastName": f"Lead {i}", "Company": f"Co {i}", "NumberOfEmployees": 1})
           for i in range(n)]
    fake.clock.advance(5)  # type: ignore[attr-defined]
    return ids


def lead_update(record_id: str, **fields: Any) -> dict[str, Any]:
    return {"object": "Lead", "op": "update", "record_id": record_id, "actor": "ai:lead-intake-1",
            "fields": fields}


def trail(gate: Any, kind: str) -> list[Any]:
    return [e for e in gate.store.iter_entries() if e.kind == kind]
