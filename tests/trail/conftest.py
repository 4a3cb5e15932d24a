"""Fixtures for trail tests: a signer and a store factory (closed after each test)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crmgate.trail import TrailSigner, TrailStore


@pytest.fixture
def signer() -> TrailSigner:
    return TrailSigner.generate()


@pytest.fixture
def make_store(store_url: str, signer: TrailSigner, clock) -> Iterator[Callable[..., TrailStore]]:
    """Open TrailStores on this test's URL (signed, fake clock by default); all closed afterwards."""
    opened: list[TrailStore] = []

    def make(**kwargs: Any) -> TrailStore:
        kwargs.setdefault("signer", signer)
        kwargs.setdefault("clock", clock)
        store = TrailStore(store_url, **kwargs)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
