"""Shared fixtures: store URLs for SQLite and PostgreSQL, a fixed clock and counting id factory."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import settings

# The same examples on every run: CI must not pass or fail by the luck of the draw. Run
# `pytest --hypothesis-seed=random` (or HYPOTHESIS_PROFILE=explore) to hunt for new failures.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PG_URL = os.environ.get("CRMGATE_TEST_PG_URL", "postgresql://127.0.0.1:5432/test")


def _pg_unreachable_reason() -> str | None:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a hard dependency
        return "psycopg is not installed"
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except Exception as exc:  # any failure means: no server for this run
        return f"no PostgreSQL server reachable at {PG_URL} ({type(exc).__name__}: {exc})"


_PG_REASON: list[str | None] = []


def pg_reason() -> str | None:
    if not _PG_REASON:
        _PG_REASON.append(_pg_unreachable_reason())
    return _PG_REASON[0]


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    reason = pg_reason()
    if reason:
        if os.environ.get("CRMGATE_REQUIRE_PG"):
            pytest.fail(f"CRMGATE_REQUIRE_PG is set but {reason}")
        pytest.skip(reason)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """Every store test runs twice: on a SQLite file and on a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 22, 9, 0, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class CountingIds:
    """Deterministic ids: ``prefix_000001``, ``prefix_000002``..."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}_{self.n:06d}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ids() -> CountingIds:
    return CountingIds()


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """tests/audit runs first: its worker-mode tests need a one-thread process (a large export or
    verify forks its worker only then), and tests that run servers leave threads behind
    (tests/audit/conftest.py ``need_fork`` skips rather than test the in-process path twice)."""
    audit = os.sep + os.path.join("tests", "audit") + os.sep
    items.sort(key=lambda item: audit not in str(item.path))  # stable: the order within each part stays
