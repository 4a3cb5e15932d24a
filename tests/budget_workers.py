"""Worker processes for the shared-budget tests (importable by name, as spawned processes need)."""
from __future__ import annotations

import time
from typing import Any

from crmgate.adapters.budget import TICK, Budget, WindowBudget


def make_budget(spec: str, namespace: str, clock: Any = time.time) -> Budget:
    """``spec``: memory, a redis:// URL, or a SQL store URL (the store's own tables)."""
    if spec == "memory":
        return WindowBudget.memory(clock)
    if spec.startswith("redis://"):
        return WindowBudget.redis(spec, clock, namespace=namespace)
    from crmgate.budget import SqlWindows
    from crmgate.trail.engine import make_engine

    return WindowBudget(SqlWindows(make_engine(spec), lambda: clock() / TICK), clock=clock, namespace=namespace)


def take_many(spec: str, namespace: str, n: int, barrier: Any, out: Any) -> None:
    """Take ``n`` hits of a 20-per-10 s window on a frozen clock; report how many were admitted."""
    budget = make_budget(spec, namespace, clock=lambda: 1_000_000.0)
    barrier.wait()
    out.put(sum(budget.take("app", 20, 10.0) == 0 for _ in range(n)))


class Stop(Exception):
    """Raised by the injected sleep: a worker that would have to wait stops instead."""


def hubspot_calls(spec: str, namespace: str, url: str, token: str, record: str, barrier: Any, out: Any) -> None:
    """One worker's HubSpot adapter on the shared budget: read until the window makes it wait."""
    from crmgate.adapters.hubspot.adapter import HubSpotAdapter
    from crmgate.adapters.retry import RetryPolicy

    def stop(_seconds: float) -> None:
        raise Stop

    hs = HubSpotAdapter(token=token, host=url, rate_limit=(5, 10.0), sleep=stop, retry=RetryPolicy(attempts=2),
                        budget=make_budget(spec, namespace))
    barrier.wait()
    made = 0
    try:
        for _ in range(10):
            hs.get_many("deals", [record])
            made += 1
    except Stop:
        pass
    finally:
        hs.close()
    out.put(made)
