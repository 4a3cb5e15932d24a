"""The per-credential request limiter: a moving window on an injected clock."""
from __future__ import annotations

import pytest

from crmgate.doors.quota import RequestLimiter
from tests.api.conftest import Monotonic


def test_a_burst_up_to_the_limit_then_refusal_with_the_exact_wait():
    """3 per 60 s: three pass, the fourth waits until the oldest leaves the window, 60 s after it."""
    mono = Monotonic()
    limiter = RequestLimiter(default_limit=3, per_seconds=60, clock=mono)
    got = [limiter.take("cred_a") for _ in range(4)]
    assert [a.allowed for a in got] == [True, True, True, False]
    assert [a.remaining for a in got[:3]] == [2, 1, 0]
    assert got[3].retry_after == pytest.approx(60.0)
    assert got[3].headers() == {"RateLimit-Limit": "3", "RateLimit-Remaining": "0", "Retry-After": "60"}
    mono.now += 59.9
    assert not limiter.take("cred_a").allowed
    mono.now += 0.2
    assert limiter.take("cred_a").allowed


def test_credentials_have_separate_buckets_and_their_own_limits():
    """One runaway credential does not spend another's allowance; a per-credential limit wins."""
    limiter = RequestLimiter(default_limit=1, per_seconds=60, clock=Monotonic())
    assert limiter.take("runaway").allowed
    assert not limiter.take("runaway").allowed
    assert limiter.take("other").allowed
    assert [limiter.take("big", 5).allowed for _ in range(6)] == [True] * 5 + [False]


def _shared(mono: Monotonic, limit: int, workers: int = 2):
    """``workers`` limiters over one budget, as the worker processes of one store."""
    from crmgate.adapters.budget import WindowBudget

    budget = WindowBudget.memory(mono)
    return budget, [RequestLimiter(default_limit=limit, per_seconds=60, clock=mono, budget=budget)
                    for _ in range(workers)]


def _hits(budget, limit: int) -> int:
    return limit - budget.peek("quota:big", limit, 60)[0]


def test_a_limit_below_the_batch_threshold_spends_every_request_in_the_window():
    from crmgate.doors.quota import BATCH_FROM

    mono = Monotonic()
    budget, [one] = _shared(mono, BATCH_FROM - 1, workers=1)
    for n in range(1, 4):
        assert one.take("big").allowed
        assert _hits(budget, BATCH_FROM - 1) == n


def test_a_very_high_limit_spends_its_requests_in_the_window_in_batches():
    """1,000,000 a minute: batches of 50 (the most), each spent in the shared window at once;
    the 51st request spends the next batch. Remaining counts what this worker holds."""
    mono = Monotonic()
    limit = 1_000_000
    budget, [one] = _shared(mono, limit, workers=1)
    got = [one.take("big") for _ in range(50)]
    assert all(a.allowed for a in got) and _hits(budget, limit) == 50
    assert [a.remaining for a in got[:2]] == [limit - 1, limit - 2] and got[-1].remaining == limit - 50
    assert one.take("big").allowed and _hits(budget, limit) == 100


def test_a_batch_is_used_only_while_its_hits_are_in_the_window():
    """Requests held from a batch are dropped once that batch leaves the window: a held request is
    never admitted more than a window after it was spent."""
    mono = Monotonic()
    limit = 200_000  # batches of 20
    budget, [one] = _shared(mono, limit, workers=1)
    assert one.take("big").allowed and _hits(budget, limit) == 20
    mono.now += 60.0  # the batch's hits leave the window: so do the 19 held
    assert one.take("big").allowed and _hits(budget, limit) == 20  # a new batch, spent now


def test_workers_together_pass_a_batched_limit_by_at_most_a_batch_each():
    """Two workers, 200,000 a minute (batches of 20): the first holds 19 unspent requests when the
    other fills the window; in the minute that follows, both together admit at most the limit plus
    those 19. A full window refuses with the exact wait, as unbatched limits do."""
    mono = Monotonic()
    limit = 200_000
    budget, [one, two] = _shared(mono, limit)
    assert one.take("big").allowed  # a batch of 20 spent at t=0, 19 held
    mono.now += 30.0
    window_start = mono.now
    admitted = 0
    while two.take("big").allowed:  # fills what the window has left, in batches then one by one
        admitted += 1
    assert admitted == limit - 20 and _hits(budget, limit) == limit
    refused = two.take("big")
    assert not refused.allowed and refused.retry_after == pytest.approx(30.0)
    while one.take("big").allowed:  # its 19 held requests, still in the window
        admitted += 1
    assert admitted == limit - 20 + 19
    mono.now += 30.0 - 1e-6  # still before the t=0 batch leaves: nothing more
    assert not one.take("big").allowed and not two.take("big").allowed
    mono.now += 2e-6  # it left: 20 more fit, within the minute since window_start
    while one.take("big").allowed or two.take("big").allowed:
        admitted += 1
    assert mono.now - window_start < 60.0
    assert admitted <= limit + 19


def test_two_threads_spending_a_batch_at_once_keep_both():
    """A batch spent while another request of the same worker spent one too: neither is lost (each
    was counted in the window). The other request is run from inside the budget call here."""
    mono = Monotonic()
    limit = 200_000  # batches of 20
    budget, [one] = _shared(mono, limit, workers=1)
    counted = budget.storage.acquire_counted
    nested: list = []

    def racing(*args):
        if not nested:
            nested.append(None)
            nested[0] = one.take("big")  # the other thread's request, between check and spend
        return counted(*args)

    budget.storage.acquire_counted = racing
    assert one.take("big").allowed and nested[0].allowed and _hits(budget, limit) == 40
    assert all(one.take("big").allowed for _ in range(38)) and _hits(budget, limit) == 40
    assert one.take("big").allowed and _hits(budget, limit) == 60
