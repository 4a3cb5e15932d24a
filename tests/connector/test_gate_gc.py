"""Gate.propose pauses the cyclic garbage collector for a long batch, and always restores it."""
from __future__ import annotations

import gc

import pytest

from crmgate.adapters.sandbox.adapter import SandboxAdapter


class _Watching(SandboxAdapter):
    """The sandbox, noting whether the collector ran enabled during each create call."""

    seen: list[bool]

    def create_many(self, object, requests):  # type: ignore[override]
        self.seen.append(gc.isenabled())
        if object == "Lead" and any(r.fields.get("LastName") == "boom" for r in requests):
            raise RuntimeError("an adapter bug")
        return super().create_many(object, requests)


def _leads(n: int, last: str = "L") -> list[dict]:
    return [{"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
             "fields": {"LastName": f"{last}" if last == "boom" else f"{last} {i}", "Company": f"C {i}",
                        "Email": f"gc{last}{i}@example.com"}} for i in range(n)]


@pytest.fixture
def watched(make_gate, tmp_path, clock):
    adapter = _Watching(tmp_path / "crm-gc.db", clock=clock)
    adapter.seen = []
    return make_gate(adapter), adapter


def test_a_long_batch_runs_with_the_collector_paused_and_restored(watched):
    """From 100 proposals the collector is off during the batch and on again after; a short batch leaves it on."""
    gate, adapter = watched
    assert gc.isenabled()
    gate.propose(_leads(100))
    gate.propose(_leads(3, "S"))
    assert adapter.seen == [False, True] and gc.isenabled()


def test_the_collector_is_restored_when_a_batch_raises(watched):
    """An exception out of the batch still turns the collector back on."""
    gate, adapter = watched
    with pytest.raises(RuntimeError, match="an adapter bug"):
        gate.propose(_leads(100, "boom"))
    assert adapter.seen == [False] and gc.isenabled()


def test_a_collector_the_caller_turned_off_stays_off(watched):
    """A caller that disabled the collector itself finds it still disabled afterwards."""
    gate, adapter = watched
    gc.disable()
    try:
        gate.propose(_leads(100))
        assert adapter.seen == [False] and not gc.isenabled()
    finally:
        gc.enable()
