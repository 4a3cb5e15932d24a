"""SqlWindows keeps a count row per key beside the key's hits, so a hit does not count the window row
by row: the count must always equal the key's hit rows, and hits from before the count rows existed
must still count."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from crmgate.adapters.budget import TICK, WindowBudget
from crmgate.budget import SqlWindows
from crmgate.trail.engine import make_engine


class Clock:
    def __init__(self) -> None:
        self.now = 2_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def windows(request: pytest.FixtureRequest, tmp_path) -> tuple[WindowBudget, SqlWindows, Clock]:
    clock = Clock()
    url = f"sqlite:///{tmp_path / 'b.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    storage = SqlWindows(make_engine(url, durable=False), lambda: clock() / TICK)
    return WindowBudget(storage, clock=clock, namespace=f"t{uuid.uuid4().hex[:8]}"), storage, clock


def rows(storage: SqlWindows, budget: WindowBudget, key: str, limit: int, seconds: float) -> tuple[int, int | None]:
    """(the key's hit rows, its count row's n)."""
    full = budget._item(limit, seconds).key_for(key)
    with storage.engine.connect() as conn:
        hits = conn.execute(sa.text("SELECT count(*) FROM crmgate_budget_hits WHERE key = :k"), {"k": full}).scalar()
        n = conn.execute(sa.text("SELECT n FROM crmgate_budget_counts WHERE key = :k"), {"k": full}).scalar()
    return hits, n


def test_the_count_follows_the_rows_as_hits_come_and_leave(windows):
    budget, storage, clock = windows
    for _ in range(5):
        assert budget.spend("k", 10, 60.0)[0] == 0.0
    assert rows(storage, budget, "k", 10, 60.0) == (5, 5)
    clock.now += 30.0
    assert budget.spend("k", 10, 60.0) == (0.0, 4)
    clock.now += 30.0 + TICK  # the first five left the window; the next hit drops them
    assert budget.spend("k", 10, 60.0) == (0.0, 8)
    assert rows(storage, budget, "k", 10, 60.0) == (2, 2)
    assert budget.peek("k", 10, 60.0) == (8, 0.0)
    storage.clear(budget._item(10, 60.0).key_for("k"))
    assert rows(storage, budget, "k", 10, 60.0) == (0, None)
    assert budget.spend("k", 10, 60.0) == (0.0, 9)


def test_a_refused_hit_leaves_the_count_alone(windows):
    budget, storage, clock = windows
    assert [budget.spend("k", 2, 60.0)[1] for _ in range(2)] == [1, 0]
    wait, left = budget.spend("k", 2, 60.0)
    assert left == 0 and wait == pytest.approx(60.0)
    assert rows(storage, budget, "k", 2, 60.0) == (2, 2)


def test_hits_written_before_the_count_rows_existed_still_count(windows):
    """A budget whose hits table was filled by an older crmgate (no count rows): the window is
    counted from the rows once, and the limit holds."""
    budget, storage, clock = windows
    assert budget.spend("warm", 3, 60.0)[0] == 0.0  # makes the tables
    full = budget._item(3, 60.0).key_for("k")
    with storage.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO crmgate_budget_hits (key, at) VALUES (:k, :at)"),
                     [{"k": full, "at": clock() / TICK - 1}, {"k": full, "at": clock() / TICK - 1}])
    assert budget.peek("k", 3, 60.0)[0] == 1
    assert budget.spend("k", 3, 60.0) == (0.0, 0)
    assert budget.spend("k", 3, 60.0)[0] > 0
    assert rows(storage, budget, "k", 3, 60.0) == (3, 3)
