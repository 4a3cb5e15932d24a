"""A rulebook made of the issue-2 example plus the issue-5 routing and enrichment example."""
from __future__ import annotations

import pytest

from crmgate.project.scaffold import example_rulebook
from crmgate.rules.loader import parse_rulebook
from tests.connector.conftest import keypair, make_gate, rulebook, sandbox, trail_url  # noqa: F401  (shared fixtures)


def routing_text(*, enrichment: bool = True, provider: str = "firmographics", extra: str = "") -> str:
    from importlib.resources import files

    text = files("crmgate.project").joinpath("templates/routing-example.yaml").read_text(encoding="utf-8")
    if not enrichment:
        text = text.split("enrichment:")[0]
    text = text.replace("provider: firmographics", f"provider: {provider}")
    base = example_rulebook().replace(
        "Lead: {ops: [create, update], fields: [LastName, Company, Email, Country, NumberOfEmployees, Rating]}",
        "Lead: {ops: [create, update], fields: [LastName, Company, Email, Country, NumberOfEmployees, Rating, OwnerId]}")
    return base + "\n" + text + extra


@pytest.fixture
def routing_rulebook():
    return parse_rulebook(routing_text(enrichment=False), source="routing.yaml")


@pytest.fixture
def full_rulebook():
    return parse_rulebook(routing_text(), source="routing.yaml")
