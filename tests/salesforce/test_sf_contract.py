"""The Salesforce adapter passes the same contract suite as the sandbox, against the loopback fake."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tests.adapter_contract import AdapterContract


class TestSalesforceContract(AdapterContract):
    objects_under_test = ("Account", "Contact", "Lead", "Opportunity")

    @pytest.fixture
    def adapter(self, make_adapter, fake):
        self._fake = fake
        return make_adapter()

    def person_edit(self, adapter: Any, object: str, id: str, fields: Mapping[str, Any]) -> None:
        self._fake.edit(object, id, fields)

    def advance_clock(self, adapter: Any, seconds: float) -> None:
        self._fake.clock.advance(seconds)


class TestSalesforceContractConcurrent(TestSalesforceContract):
    """The same suite with the Collections chunks of one call in flight together."""

    @pytest.fixture
    def adapter(self, make_adapter, fake):
        self._fake = fake
        return make_adapter(concurrency=4)
