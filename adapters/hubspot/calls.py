"""Every HTTP call of one HubSpot adapter: the shared budget, retries, errors, and calls in flight.

* **The window**: each call first spends one hit of the app's window in the injected
  :class:`~crmgate.adapters.budget.Budget` (key ``hubspot:<token digest>``), so every worker sharing
  the budget's storage shares the app's 190 requests per 10 s. A hit is counted when the call is
  sent, but HubSpot counts it when it arrives; the window is held ``margin`` seconds longer than
  HubSpot's (0.5 s by default) so a call that arrives late cannot overlap the next window.
* **Several calls in flight**: :meth:`Calls.run` sends up to ``max_inflight`` calls at once from a
  small thread pool, results in the order asked, so a busy CPU on our side does not leave the
  window idle. After a round in which any call failed, no further call is started.
* **The daily allowance**: a 429 ``DAILY`` stops this adapter and trips ``hubspot:<digest>:daily``
  in the budget for ``trip_s``, so every other worker stops without asking HubSpot.
* Retries: :func:`crmgate.adapters.retry.retrying`; errors: :func:`crmgate.adapters.hubspot.errors.translate`.
"""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from crmgate.adapters.budget import Budget, wait_for
from crmgate.adapters.errors import CRMError, QuotaExhaustedError, ResponseError
from crmgate.adapters.hubspot.errors import translate
from crmgate.adapters.hubspot.records import json_of
from crmgate.adapters.retry import RetryPolicy, retrying

_T = TypeVar("_T")
#: a job :meth:`Calls.run` did not start because an earlier one failed
NOT_SENT: Any = type("NotSent", (), {"__repr__": lambda self: "NOT_SENT"})()


class Calls:
    """The call path of one adapter (see the module docstring). ``stats`` counts calls sent (retries
    included), 429s answered and retries made; ``waited``/``waits`` what the window cost."""

    def __init__(self, *, budget: Budget, token: str, requests: int, per_seconds: float, margin: float,
                 retry: RetryPolicy, timeout: float, sleep: Callable[[float], None], jitter: Callable[[], float],
                 max_inflight: int = 8, trip_s: float = 3600.0) -> None:
        digest = hashlib.sha256(token.encode()).hexdigest()[:16]
        self.budget, self.key, self.daily_key = budget, f"hubspot:{digest}", f"hubspot:{digest}:daily"
        self.requests, self.per_seconds, self.margin = requests, per_seconds, margin
        self.retry, self.timeout, self.sleep, self.jitter = retry, timeout, sleep, jitter
        self.max_inflight, self.trip_s = max(1, max_inflight), trip_s
        self.stats = {"calls": 0, "rate_limited": 0, "retries": 0}
        self.waited, self.waits = 0.0, 0
        self.closed = False
        self.quota: QuotaExhaustedError | None = None
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def acquire(self, key: str | None = None, limit: int | None = None, per_seconds: float | None = None) -> None:
        """Wait for one hit of the app's window (or of another window of this app, e.g. search)."""
        waited = wait_for(self.budget, key or self.key, limit or self.requests,
                          per_seconds or self.per_seconds + self.margin, self.sleep)
        if waited:
            with self._lock:
                self.waited += waited
                self.waits += 1

    def count(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1

    def call(self, fn: Callable[..., Any], *args: Any, allow_empty: bool = False, no_blind_retry: bool = False,
             **kwargs: Any) -> Any:
        """One SDK call through the window, translated errors and the retry policy. The answer is
        read raw and parsed as JSON; an empty answer is garbage unless ``allow_empty``.
        ``no_blind_retry``: an ambiguous error (the call may have been applied) is not retried."""
        def once() -> Any:
            if self.closed:
                raise CRMError("the HubSpot adapter is closed", code="closed")
            self._check_quota()
            self.acquire()
            self.count("calls")
            try:
                result = json_of(fn(*args, _request_timeout=self.timeout, _preload_content=False, **kwargs))
            except Exception as exc:
                err = translate(exc)
                if err is None:
                    raise
                if err.status == 429:
                    self.count("rate_limited")
                if isinstance(err, QuotaExhaustedError):
                    self.quota = err
                    self.budget.trip(self.daily_key, self.trip_s)
                if no_blind_retry and err.ambiguous and err.retryable:
                    err.retryable = False  # a re-sent create with nothing unique in it could duplicate
                raise err from exc
            if result is None and not allow_empty:
                raise ResponseError("HubSpot answered with a status or body the API does not document",
                                    code="malformed_response")
            return result

        def counted_sleep(seconds: float) -> None:
            self.count("retries")
            self.sleep(seconds)

        return retrying(self.retry, sleep=counted_sleep, jitter=self.jitter)(once)

    def _check_quota(self) -> None:
        if self.quota is None and self.budget.tripped(self.daily_key, self.trip_s):
            self.quota = QuotaExhaustedError("HubSpot daily API allowance is spent (another worker was told so)",
                                             code="DAILY", status=429)
        if self.quota is not None:
            raise self.quota

    def run(self, jobs: Sequence[Callable[[], _T]]) -> list[Any]:
        """Run ``jobs``, up to ``max_inflight`` at once, each result (or its CRMError) in order; after
        a round in which a job failed, the rest are not started: :data:`NOT_SENT`."""
        out: list[Any] = [NOT_SENT] * len(jobs)
        step = self.max_inflight
        for start in range(0, len(jobs), step):
            wave = list(range(start, min(start + step, len(jobs))))
            if len(wave) == 1:  # one call: in this thread, as a single call always was
                out[wave[0]] = _capture(jobs[wave[0]])
            else:
                futures = [self._executor().submit(_capture, jobs[i]) for i in wave]
                for i, future in zip(wave, futures):
                    out[i] = future.result()
            if any(isinstance(out[i], CRMError) for i in wave):
                break
        return out

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_inflight, thread_name_prefix="crmgate-hubspot")
            return self._pool

    def close(self) -> None:
        self.closed = True
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)


def _capture(job: Callable[[], _T]) -> _T | CRMError:
    try:
        return job()
    except CRMError as exc:
        return exc


def first_error(results: Sequence[Any]) -> None:
    """Raise the first CRMError among ``results`` (reads: one failed chunk fails the read)."""
    for r in results:
        if isinstance(r, CRMError):
            raise r
