"""The sandbox CRM passes the adapter contract, on a frozen clock (versions must move anyway)."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from crmgate.adapters.sandbox.adapter import SandboxAdapter
from tests.adapter_contract import AdapterContract


class TestSandboxContract(AdapterContract):
    objects_under_test = ("Account", "Contact", "Lead", "Opportunity")

    @pytest.fixture
    def adapter(self, tmp_path, clock) -> Iterator[SandboxAdapter]:
        with SandboxAdapter(tmp_path / "crm.db", clock=clock) as sandbox:
            sandbox.max_batch = 7  # the batch test then spans two calls without 200+ records
            yield sandbox

    def person_edit(self, adapter: SandboxAdapter, object: str, id: str, fields: Mapping[str, Any]) -> None:
        adapter.edit(object, id, fields)
