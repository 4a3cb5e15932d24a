"""Calling enrichment providers: registry, timeout, circuit breaker. Policy lives in crmgate.rules.enrichment.

A provider is a callable ``provider(object_name, record) -> mapping of field values``. Providers
come from, in order: ones passed to :class:`ProviderRegistry` directly, HTTP JSON endpoints named in
the config (``providers: {NAME: {url: ...}}``), and the ``crmgate.enrichment`` entry point group.
"""
from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any

import structlog

from crmgate.rules.enrichment import EnrichmentResult, EnrichmentSection, fields_wanted, resolve
from crmgate.rules.schema import Rulebook

log = structlog.get_logger("crmgate.enrichment")

Provider = Callable[[str, Mapping[str, Any]], Any]
Runner = Callable[[Callable[[], Any], float], Any]
ENTRY_POINT_GROUP = "crmgate.enrichment"

_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="crmgate-enrich")


def thread_runner(fn: Callable[[], Any], timeout: float) -> Any:
    """Run ``fn`` in a worker thread; raise TimeoutError after ``timeout`` seconds.

    Python cannot kill a thread: a provider that hangs keeps its worker until it returns, but the
    write path moves on at the timeout. HTTP providers also pass the timeout to the socket.
    """
    future = _POOL.submit(fn)
    try:
        return future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise TimeoutError(f"no answer within {timeout:g} s") from None


def http_provider(url: str, *, timeout: float = 10.0, headers: Mapping[str, str] | None = None,
                  session: Any = None) -> Provider:
    """A provider that POSTs ``{"object", "record"}`` as JSON and expects a JSON object back."""
    import requests

    http = session or requests.Session()

    def call(object_name: str, record: Mapping[str, Any]) -> Any:
        resp = http.post(url, json={"object": object_name, "record": dict(record)},
                         headers=dict(headers or {}), timeout=timeout)
        resp.raise_for_status()
        return resp.json()

    return call


class ProviderRegistry:
    """Name -> provider. Entry points are loaded lazily, once."""

    def __init__(self, providers: Mapping[str, Provider] | None = None) -> None:
        self._providers: dict[str, Provider] = dict(providers or {})
        self._scanned = False

    def register(self, name: str, provider: Provider) -> None:
        self._providers[name] = provider

    def get(self, name: str) -> Provider | None:
        if name not in self._providers and not self._scanned:
            self._scanned = True
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                self._providers.setdefault(ep.name, _lazy(ep))
        return self._providers.get(name)


def _lazy(ep: Any) -> Provider:
    loaded: list[Provider] = []

    def call(object_name: str, record: Mapping[str, Any]) -> Any:
        if not loaded:
            loaded.append(ep.load())
        return loaded[0](object_name, record)

    return call


@dataclass
class CircuitBreaker:
    """Open after ``failures`` consecutive failures; while open for ``cooldown_s`` the provider is
    not called; then one trial call (half-open) closes it on success or re-opens it on failure."""

    failures: int
    cooldown_s: float
    clock: Callable[[], datetime]
    consecutive: int = 0
    opened_at: datetime | None = None

    def allows(self) -> bool:
        if self.opened_at is None:
            return True
        return (self.clock() - self.opened_at).total_seconds() >= self.cooldown_s

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.allows() else "open"

    def record(self, ok: bool) -> None:
        if ok:
            self.consecutive, self.opened_at = 0, None
            return
        self.consecutive += 1
        if self.consecutive >= self.failures or self.opened_at is not None:
            self.opened_at = self.clock()


class Enricher:
    """Fills a proposal's missing fields from its object's provider, with per-field fallback."""

    def __init__(self, rulebook: Rulebook, registry: ProviderRegistry, *, clock: Callable[[], datetime],
                 runner: Runner = thread_runner) -> None:
        self.rulebook, self.registry, self.clock, self.runner = rulebook, registry, clock, runner
        self._breakers: dict[str, CircuitBreaker] = {}

    def section_for(self, object_name: str, op: str) -> EnrichmentSection | None:
        section = self.rulebook.enrichment.get(object_name)
        return section if section is not None and op in section.on else None

    def enrich(self, object_name: str, op: str, fields: Mapping[str, Any],
               current: Mapping[str, Any] | None) -> EnrichmentResult | None:
        """None when the object has no enrichment for ``op`` or the proposal sets every field."""
        section = self.section_for(object_name, op)
        if section is None:
            return None
        obj = self.rulebook.objects[object_name]
        if not fields_wanted(section, fields):
            return resolve(section, object_name, obj, fields, "not_called", None)
        breaker = self._breaker(object_name, section)
        if not breaker.allows():
            return resolve(section, object_name, obj, fields, "circuit_open", None,
                           f"circuit open after {breaker.consecutive} consecutive failures")
        provider = self.registry.get(section.provider)
        if provider is None:
            breaker.record(False)
            return resolve(section, object_name, obj, fields, "error", None,
                           f"no enrichment provider named {section.provider!r} is registered")
        record = {**(current or {}), **fields}
        try:
            answer = self.runner(lambda: provider(object_name, record), section.timeout_s)
        except TimeoutError as exc:
            breaker.record(False)
            return resolve(section, object_name, obj, fields, "timeout", None, str(exc))
        except Exception as exc:  # a provider's failure of any kind must not reach the CRM
            breaker.record(False)
            log.warning("enrichment.failed", provider=section.provider, error=type(exc).__name__)
            return resolve(section, object_name, obj, fields, "error", None,
                           f"{type(exc).__name__}: {exc}"[:500])
        result = resolve(section, object_name, obj, fields, "ok", answer)
        breaker.record(result.status == "ok")
        return result

    def _breaker(self, object_name: str, section: EnrichmentSection) -> CircuitBreaker:
        if object_name not in self._breakers:
            cb = section.circuit_breaker
            self._breakers[object_name] = CircuitBreaker(cb.failures, cb.cooldown_s, self.clock)
        return self._breakers[object_name]
