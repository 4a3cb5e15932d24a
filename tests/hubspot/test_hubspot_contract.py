"""The HubSpot adapter passes the adapter contract against the loopback fake.

``TestHubSpotContract`` runs the adapter with ``recheck_after=0`` (every conditional write re-reads
first): the configuration that meets the contract's conflict guarantee in full. The default
configuration (``TestHubSpotContractDefault``) checks against its own fresh before-image without a
re-read; there a person's edit right after that read is not prevented, and the test proves that
``verify="history"`` then flags it instead (the residual window the README documents).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from crmgate.adapters.hubspot.adapter import HubSpotAdapter
from tests.adapter_contract import AdapterContract


class TestHubSpotContract(AdapterContract):
    object_name = "deals"
    objects_under_test = ("contacts", "companies", "deals")
    settings: dict[str, Any] = {"recheck_after": 0.0}

    @pytest.fixture
    def adapter(self, make_hs, fake, hs_clock) -> Iterator[HubSpotAdapter]:
        self.fake, self.clock = fake, hs_clock
        with make_hs(**self.settings) as hs:
            yield hs

    def person_edit(self, adapter: HubSpotAdapter, object: str, id: str, fields: Mapping[str, Any]) -> None:
        self.fake.edit(object, id, {k: "" if v is None else str(v) for k, v in fields.items()})

    def advance_clock(self, adapter: HubSpotAdapter, seconds: float) -> None:
        self.clock.advance(seconds)

    def sample_fields(self, object: str) -> dict[str, Any]:
        return {
            "contacts": {"email": "jm@example.com", "firstname": "Jana", "lastname": "Müller"},
            "companies": {"name": "Acme Logistics GmbH", "domain": "acme.example", "numberofemployees": 250},
            "deals": {"dealname": "Hanbit - Fleet", "dealstage": "appointmentscheduled", "amount": 48000.5,
                      "closedate": "2026-12-31"},
        }[object]

    def awkward_fields(self, object: str) -> dict[str, Any]:
        return {"dealname": "北京星河数据 · 주식회사 한빛 🚀 O'Brien-김", "description": "-1E02 m² x³ ‰",
                "dealstage": "007"}

    def invalid_create_fields(self, object: str) -> dict[str, Any]:
        return {"dealname": "Bad amount", "amount": "a lot"}

    def field_to_change(self, object: str) -> tuple[str, Any, Any]:
        return ("description", "Head of Data", "Chief Revenue Officer")


class TestHubSpotContractDefault(TestHubSpotContract):
    settings = {"verify": "history"}

    def test_conditional_update_with_stale_version_conflicts(self, adapter: HubSpotAdapter) -> None:
        """Default check: an edit right after a fresh before-image is not prevented but is flagged as a race."""
        name, first, second = self.field_to_change(self.object_name)
        record = self.create(adapter)
        self.advance_clock(adapter, 1)
        self.person_edit(adapter, self.object_name, record.id, {name: second})
        self.advance_clock(adapter, 1)
        result = self.update(adapter, record.id, {name: first}, version=record.version)
        assert result.status == "ok"
        assert result.info["check"]["by"] == "before-image"
        verify = result.info["verify"]
        assert verify["race_detected"] is True
        assert {"property": name, "value": second, "overwritten": True} .items() <= {
            k: v for r in verify["race"] if r["property"] == name for k, v in r.items()}.items()

    def test_stale_before_image_is_reread_and_conflicts(self, adapter: HubSpotAdapter) -> None:
        """Default check: a before-image older than recheck_after is re-read, so the edit is a conflict."""
        name, first, second = self.field_to_change(self.object_name)
        record = self.create(adapter)
        self.person_edit(adapter, self.object_name, record.id, {name: second})
        self.advance_clock(adapter, adapter.recheck_after + 1)
        result = self.update(adapter, record.id, {name: first}, version=record.version)
        assert (result.status, result.info["check"]["by"]) == ("conflict", "re-read")
        assert self.get(adapter, record.id).fields[name] == second
