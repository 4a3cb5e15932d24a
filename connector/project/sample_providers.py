"""A deterministic, offline enrichment provider for the demo and the tests.

Registered under the ``crmgate.enrichment`` entry point group as ``sample-firmographics``: it
knows a handful of made-up companies and answers ``{}`` for the rest, like a provider with gaps.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_COMPANIES: dict[str, dict[str, Any]] = {
    "nordwind gmbh": {"Country": "DE", "NumberOfEmployees": 4200, "Rating": "Warm"},
    "initech": {"Country": "US", "NumberOfEmployees": 350, "Rating": "Cold"},
    "globex": {"Country": "US", "NumberOfEmployees": 12000, "Rating": "Hot"},
    "société lumière": {"Country": "FR", "NumberOfEmployees": 80},
    "한빛 소프트": {"Country": "KR", "NumberOfEmployees": 1500},
}


def firmographics(object_name: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """Firmographics for the record's ``Company`` (case-insensitive); ``{}`` when unknown."""
    company = str(record.get("Company") or "").strip().lower()
    return dict(_COMPANIES.get(company, {}))
