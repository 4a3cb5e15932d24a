"""Fixtures for the write path: a sandbox CRM, a signed SQLite trail, the example rulebook."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from crmgate import tables
from crmgate.adapters.sandbox.adapter import SandboxAdapter
from crmgate.gate import Gate
from crmgate.project.scaffold import example_rulebook
from crmgate.rules.loader import parse_rulebook
from crmgate.trail import TrailStore, generate_keypair, load_public_key, load_signer


@pytest.fixture
def keypair(tmp_path: Path):
    generate_keypair(tmp_path / "trail.key", tmp_path / "trail.pub")
    return load_signer(tmp_path / "trail.key", env={}), load_public_key(tmp_path / "trail.pub")


@pytest.fixture
def rulebook():
    return parse_rulebook(example_rulebook(), source="rules.yaml")


@pytest.fixture
def sandbox(tmp_path: Path, clock) -> SandboxAdapter:
    return SandboxAdapter(tmp_path / "crm.db", clock=clock)


@pytest.fixture
def trail_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'trail.db'}"


@pytest.fixture
def make_gate(rulebook, keypair, clock, ids, trail_url):
    made: list[Gate] = []

    def make(adapter, *, url: str | None = None, rules=None) -> Gate:
        store = TrailStore(url or trail_url, signer=keypair[0], clock=clock)
        gate = Gate(rulebook=rules or rulebook, adapter=adapter, store=store, clock=clock, ids=ids)
        made.append(gate)
        return gate

    yield make
    for g in made:
        g.store.close()


@pytest.fixture
def gate(make_gate, sandbox) -> Gate:
    return make_gate(sandbox)


@pytest.fixture
def racing_gates(sandbox, keypair, trail_url, clock):
    """Two workers' gates on one store and one sandbox (routing rulebook, firmographics enrichment):
    ``racing_gates(b_proposal)`` returns ``(gate_a, gate_b, seen)``, where gate A's enrichment
    provider first has worker B propose ``b_proposal`` (its outcome lands in ``seen``), so B goes
    while A is between its key lookup and its trail append. Both stores are closed afterwards."""
    from tests.routing.conftest import routing_text

    made: list[Gate] = []

    def make(b_proposal: dict) -> tuple[Gate, Gate, list]:
        rb = parse_rulebook(routing_text())
        gate_b = Gate(rulebook=rb, adapter=sandbox, store=TrailStore(trail_url, signer=keypair[0], clock=clock),
                      clock=clock)
        gate_b.providers.register("firmographics", lambda obj, rec: {"Country": "US"})
        seen: list = []

        def provider_of_a(obj, rec):
            if not seen:
                seen.append(gate_b.propose(b_proposal)[0])
            return {"Country": "US"}

        gate_a = Gate(rulebook=rb, adapter=sandbox, store=TrailStore(trail_url, signer=keypair[0], clock=clock),
                      clock=clock)
        gate_a.providers.register("firmographics", provider_of_a)
        made.extend((gate_a, gate_b))
        return gate_a, gate_b, seen

    yield make
    for g in made:
        g.store.close()


@pytest.fixture
def run(tmp_path: Path, monkeypatch):
    """A fresh `crmgate init` project and an invoker for its CLI that checks the exit code."""
    from click.testing import CliRunner

    from crmgate.doors.cli import cli

    monkeypatch.delenv("CRMGATE_TRAIL_KEY", raising=False)
    assert CliRunner().invoke(cli, ["init", str(tmp_path / "p")]).exit_code == 0
    config = str(tmp_path / "p" / "crmgate.yaml")

    def invoke(*args: str, input: str | None = None, code: int = 0):
        result = CliRunner().invoke(cli, ["--config", config, *args], input=input)
        assert result.exit_code == code, (result.output, result.stderr)
        return result
    invoke.project = tmp_path / "p"  # type: ignore[attr-defined]
    return invoke


def lead(**fields):
    base = {"LastName": "Okafor", "Company": "Nordwind GmbH", "Country": "DE"}
    return {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1", "fields": {**base, **fields}}


def opp(**fields):
    base = {"Name": "Nordwind expansion", "StageName": "Proposal", "CloseDate": "2027-01-29"}
    return {"object": "Opportunity", "op": "create", "actor": "ai:deal-intake", "fields": {**base, **fields}}


def hygiene(record_id: str, confidence: float = 0.9, **fields):
    return {"object": "Opportunity", "op": "update", "record_id": record_id, "actor": "ai:deal-hygiene",
            "confidence": confidence, "fields": fields}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request, tmp_path: Path):
    """crmgate's tables on a SQLite file, then on a fresh PostgreSQL schema: the in-flight and
    idempotency row code speaks each driver's own SQL."""
    if request.param == "sqlite":
        eng = sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        eng = sa.create_engine(request.getfixturevalue("pg_url").replace("postgresql://", "postgresql+psycopg://", 1))
    tables.metadata.create_all(eng)
    yield eng
    eng.dispose()
