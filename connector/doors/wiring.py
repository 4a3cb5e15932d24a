"""Wiring a :class:`Service` from the configuration, for ``crmgate serve`` and ``crmgate mcp``."""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from crmgate.clock import Clock, IdFactory
from crmgate.config import Config
from crmgate.doors.credentials import Credentials
from crmgate.doors.quota import RequestLimiter
from crmgate.doors.service import Service
from crmgate.gate import Gate, check_key_pair
from crmgate.trail import load_signer

CONFIG_ENV = "CRMGATE_CONFIG"


def build_service(config: Config, *, env: Mapping[str, str] | None = None, clock: Clock | None = None,
                  ids: IdFactory | None = None, monotonic: Callable[[], float] = time.monotonic,
                  shared_quotas: bool = True) -> Service:
    """A service over the configured CRM, store and rulebook; the caller closes ``service.gate``.
    The request quotas share the gate's budget (every worker of the store), unless ``shared_quotas``
    is false (the only server process: ``crmgate serve`` with one worker) or ``monotonic`` is
    injected (tests): then they count in this process, on ``monotonic``."""
    env = os.environ if env is None else env
    signer = load_signer(config.trail_key_file, env=env)
    check_key_pair(config, signer)
    gate = Gate.from_config(config, env=env, clock=clock, ids=ids, signer=signer)
    settings = config.server
    shared = gate.budget if shared_quotas and monotonic is time.monotonic else None
    return Service(gate, credentials=Credentials(gate.store, clock=gate.clock, ids=gate.ids),
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
