"""Wiring a :class:`Service` from the configuration, for ``crmgate serve`` and ``crmgate mcp``."""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from typing import Any

from crmgate.clock import Clock, IdFactory
from crmgate.config import Config
from crmgate.doors.credentials import Credentials, create_tables
from crmgate.doors.quota import RequestLimiter
from crmgate.doors.service import Service
from crmgate.gate import Gate, check_key_pair
from crmgate.trail import NewEntry, TrailStore, load_signer
from crmgate.trail.engine import BEGIN_OPTION, is_sqlite

CONFIG_ENV = "CRMGATE_CONFIG"


class ReadingStore:
    """The trail store as :class:`Credentials` uses it, whose every request reads its table once:
    appends (creating and revoking) go to the store; reads outside them take no write lock and make
    no extra round trip (SQLite: ``BEGIN DEFERRED`` instead of ``BEGIN IMMEDIATE``, which would queue
    a token check behind the trail's writers; PostgreSQL: autocommit, no BEGIN and ROLLBACK)."""

    def __init__(self, store: TrailStore) -> None:
        self.store = store
        create_tables(store.engine)  # on the store's own engine: table creation needs its transaction
        option = {BEGIN_OPTION: "DEFERRED"} if is_sqlite(store.engine) else {"isolation_level": "AUTOCOMMIT"}
        self.engine = store.engine.execution_options(**option)

    def append(self, entries: list[NewEntry], **kwargs: Any) -> Any:
        return self.store.append(entries, **kwargs)


def build_service(config: Config, *, env: Mapping[str, str] | None = None, clock: Clock | None = None,
                  ids: IdFactory | None = None, monotonic: Callable[[], float] = time.monotonic,
                  shared_quotas: bool = True, token_cache_seconds: float = 0.0) -> Service:
    """A service over the configured CRM, store and rulebook; the caller closes ``service.gate``.
    The request quotas share the gate's budget (every worker of the store), unless ``shared_quotas``
    is false (the only server process: ``crmgate serve`` with one worker) or ``monotonic`` is
    injected (tests): then they count in this process, on ``monotonic``. ``token_cache_seconds``: how
    long a checked token is trusted without reading its row (see :mod:`crmgate.doors.credentials`;
    ``monotonic`` is its clock too)."""
    env = os.environ if env is None else env
    signer = load_signer(config.trail_key_file, env=env)
    check_key_pair(config, signer)
    gate = Gate.from_config(config, env=env, clock=clock, ids=ids, signer=signer)
    settings = config.server
    shared = gate.budget if shared_quotas and monotonic is time.monotonic else None
    return Service(gate, credentials=Credentials(ReadingStore(gate.store), clock=gate.clock, ids=gate.ids,  # type: ignore[arg-type]
                                                        cache_seconds=token_cache_seconds, monotonic=monotonic),
                   limiter=RequestLimiter(default_limit=settings.rate_limit, per_seconds=settings.rate_window_s,
                                          clock=monotonic, budget=None if shared is None else gate.budget),
                   signer=signer, max_proposals=settings.max_proposals,
                   failed_auth_limit=settings.failed_auth_limit)


@contextmanager
def open_service(config: Config, **kwargs) -> Iterator[Service]:
    service = build_service(config, **kwargs)
    try:
        yield service
    finally:
        service.gate.close()
