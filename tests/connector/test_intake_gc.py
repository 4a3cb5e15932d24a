"""A long input is parsed with the cyclic garbage collector paused, and the collector is always
switched back on afterwards (also when the input is refused), unless the caller had paused it."""
from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from crmgate.errors import ProposalError
from crmgate.writes import intake


def _lead(i: int) -> dict:
    return {"object": "Lead", "op": "create", "actor": "ai:x", "fields": {"LastName": f"L{i}"}}


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    was = gc.isenabled()
    yield
    if was:
        gc.enable()


def test_a_long_input_is_parsed_with_the_collector_paused_and_switched_back_on(monkeypatch) -> None:
    """The collector is off while each proposal is validated, and on again once coerce returns."""
    seen: list[bool] = []
    real = intake.Proposal.model_validate

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(intake.Proposal, "model_validate", spy)
    out = intake.coerce(_lead(i) for i in range(intake.PAUSE_GC_FROM))  # any iterable, not only a list
    assert len(out) == intake.PAUSE_GC_FROM and seen == [False] * intake.PAUSE_GC_FROM
    assert gc.isenabled()
    seen.clear()
    intake.coerce([_lead(i) for i in range(intake.PAUSE_GC_FROM - 1)])  # a short input: left alone
    assert seen == [True] * (intake.PAUSE_GC_FROM - 1)


def test_a_refused_long_input_switches_the_collector_back_on() -> None:
    """A ProposalError out of a paused parse leaves the collector on."""
    items = [_lead(i) for i in range(intake.PAUSE_GC_FROM)] + [{"object": "Lead"}]
    with pytest.raises(ProposalError):
        intake.coerce(items)
    assert gc.isenabled()


def test_a_caller_that_paused_the_collector_finds_it_still_paused() -> None:
    """coerce does not switch on a collector its caller switched off."""
    gc.disable()
    intake.coerce([_lead(i) for i in range(intake.PAUSE_GC_FROM)])
    assert not gc.isenabled()
