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
