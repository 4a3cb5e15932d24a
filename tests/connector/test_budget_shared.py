"""Worker processes sharing one budget cannot overrun a window together (Redis, SQLite, PostgreSQL)."""
from __future__ import annotations

import multiprocessing
import uuid

import pytest

from tests.budget_workers import hubspot_calls, make_budget, take_many
from tests.fakes.hubspot_fake import FakeHubSpot

REDIS = "redis://127.0.0.1:6379/0"


def _redis_up() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping())
    except Exception:  # noqa: BLE001 - any failure means: no Redis here
        return False


@pytest.fixture(params=["redis", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared(request: pytest.FixtureRequest, tmp_path) -> str:
    """A storage two processes can share."""
    if request.param == "redis":
        if not _redis_up():
            pytest.skip(f"no Redis at {REDIS}")
        return REDIS
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


def _run(target, *args) -> list[int]:
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, out)) for _ in range(2)]
    for p in procs:
        p.start()
    got = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return got


def test_two_processes_cannot_exceed_the_window_together(shared):
    """Each of two processes asks for 30 hits of one 20-per-10 s window at the same instant: 20 in all."""
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    make_budget(shared, namespace)  # create the tables once, before the race
    got = _run(take_many, shared, namespace, 30)
    assert sum(got) == 20


def test_two_hubspot_workers_share_the_apps_window(shared):
    """Two workers' adapters on one budget, against a fake HubSpot enforcing 5 calls / 10 s for the
    app globally: together they send 5 calls and meet no 429 (each stops when it would have to wait)."""
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    make_budget(shared, namespace)
    with FakeHubSpot(token="pat-shared", rate_limit=(5, 10.0)) as fake:
        rid = fake.seed("deals", {"dealname": "shared"})
        got = _run(hubspot_calls, shared, namespace, fake.url, "pat-shared", rid)
        assert sum(got) == 5
        assert fake.count(status=429) == 0 and len(fake.calls) == 5
