"""Budget.spend: one hit and the hits it leaves, in one storage call, alike on every storage."""
from __future__ import annotations

import uuid

import pytest

from crmgate.adapters.budget import TICK, WindowBudget
from crmgate.budget import SqlWindows
from crmgate.trail.engine import make_engine


class Clock:
    """Seconds that move only when told to."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def budget(request: pytest.FixtureRequest, tmp_path) -> tuple[WindowBudget, Clock]:
    clock = Clock()
    if request.param == "memory":
        return WindowBudget.memory(clock), clock
    url = f"sqlite:///{tmp_path / 'b.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    storage = SqlWindows(make_engine(url, durable=False), lambda: clock() / TICK)
    return WindowBudget(storage, clock=clock, namespace=f"t{uuid.uuid4().hex[:8]}"), clock


def test_spend_counts_down_then_waits_for_the_oldest_hit(budget):
    """3 per 60 s, hits 10 s apart: the hits left go 2, 1, 0; the fourth spends nothing and waits
    until the first hit leaves the window (40 s later); then one fits again, leaving 0."""
    b, clock = budget
    left = []
    for _ in range(3):
        left.append(b.spend("k", 3, 60.0))
        clock.now += 10.0
    assert left == [(0.0, 2), (0.0, 1), (0.0, 0)]
    wait, none = b.spend("k", 3, 60.0)
    assert none == 0 and wait == pytest.approx(30.0)
    assert b.peek("k", 3, 60.0)[0] == 0  # the refusal spent nothing
    clock.now += 30.0 + TICK
    assert b.spend("k", 3, 60.0) == (0.0, 0)
    assert b.spend("other", 3, 60.0) == (0.0, 2)  # keys count apart


def test_hits_that_left_the_window_free_their_room(budget):
    """Once the window has moved past every hit, the whole limit is free again."""
    b, clock = budget
    assert [b.spend("k", 2, 10.0)[1] for _ in range(2)] == [1, 0]
    assert b.spend("k", 2, 10.0)[0] > 0
    clock.now += 10.0 + TICK
    assert b.spend("k", 2, 10.0) == (0.0, 1)


def test_an_amount_is_spent_all_or_none(budget):
    """spend(amount=n): n hits in one call; when they do not all fit, none is spent."""
    b, clock = budget
    assert b.spend("k", 5, 60.0, 3) == (0.0, 2)
    wait, none = b.spend("k", 5, 60.0, 3)
    assert none == 0 and wait > 0
    assert b.peek("k", 5, 60.0)[0] == 2  # the refusal spent nothing
    assert b.spend("k", 5, 60.0, 2) == (0.0, 0)


def test_an_amount_is_spent_all_or_none_on_a_limits_storage():
    """The same through a storage of the ``limits`` library itself (no counted acquire): its
    ``hit`` takes the amount as its cost. The window is 60 s; the test takes well under one."""
    from limits.storage import MemoryStorage

    b = WindowBudget(MemoryStorage(), namespace=f"t{uuid.uuid4().hex[:8]}")
    assert b.spend("k", 5, 60.0, 3) == (0.0, 2)
    assert b.spend("k", 5, 60.0, 3)[0] > 0
    assert b.spend("k", 5, 60.0, 2) == (0.0, 0)
