"""The client-side rolling window, retries honouring Retry-After, and the DAILY stop, with exact waits."""
from __future__ import annotations

import pytest

from crmgate.adapters.base import UpdateRequest
from crmgate.adapters.errors import QuotaExhaustedError, RateLimitError
from crmgate.adapters.budget import WindowBudget, wait_for
from crmgate.adapters.retry import RetryPolicy
from tests.fakes.hubspot_fake import ManualClock


def test_window_waits_exactly_until_the_oldest_call_leaves():
    """3 per 10 s: calls at t=0,1,2 pass; one at t=5 waits exactly 5 s, the next exactly 1 s more."""
    clock = ManualClock(start=0.0)
    budget = WindowBudget.memory(clock)
    for _ in range(3):
        assert wait_for(budget, "app", 3, 10.0, clock.sleep) == 0
        clock.advance(1)
    clock.advance(2)  # t=5
    wait_for(budget, "app", 3, 10.0, clock.sleep)
    wait_for(budget, "app", 3, 10.0, clock.sleep)
    assert clock.sleeps == pytest.approx([5.0, 1.0]) and clock.now == pytest.approx(11.0)


def test_the_window_is_held_a_margin_longer_than_hubspots(fake, make_hs, hs_clock):
    """HubSpot counts a call when it arrives, after we count it: with 2 per 10 s and the default
    0.5 s margin, the third call waits 10.5 s, so it cannot arrive inside HubSpot's window."""
    fake.rate_limit = (2, 10.0)
    hs = make_hs(rate_limit=(2, 10.0))
    rid = fake.seed("deals", {"dealname": "x"})
    for _ in range(3):
        hs.get_many("deals", [rid])
    assert hs_clock.sleeps == pytest.approx([10.5]) and fake.count(status=429) == 0
    assert (hs.calls.waits, hs.calls.waited) == (1, pytest.approx(10.5))


def test_window_rejects_nonsense():
    """A window of zero requests or non-positive seconds is refused."""
    budget = WindowBudget.memory(ManualClock(start=0.0))
    with pytest.raises(ValueError):
        budget.take("app", 0, 10)
    with pytest.raises(ValueError):
        budget.take("app", 5, 0)


def test_long_run_never_sees_a_429(fake, make_hs, hs_clock):
    """With the fake enforcing 5 calls/s and the limiter set the same, 60 calls get no 429 and wait 1 s per 5."""
    fake.rate_limit = (5, 1.0)
    hs = make_hs(rate_limit=(5, 1.0), margin=0.0)
    rid = fake.seed("deals", {"dealname": "x"})
    for _ in range(60):
        assert rid in hs.get_many("deals", [rid])
    assert fake.count(status=429) == 0 and len(fake.calls) == 60
    assert hs_clock.sleeps == pytest.approx([1.0] * 11)
    assert hs.stats["rate_limited"] == 0


def test_every_response_carries_rate_limit_headers(fake):
    """The fake sends X-HubSpot-RateLimit-* on every answer, errors included."""
    status, _, headers = fake.handle("GET", "/crm/v3/objects/deals/1", {"authorization": "Bearer nope"}, b"")
    assert status == 401
    assert headers["X-HubSpot-RateLimit-Max"] == "190"
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"


def test_ten_secondly_429_is_retried_after_retry_after(fake, make_hs, hs_clock):
    """Without a client limiter the fake's window answers 429; the adapter waits its Retry-After and succeeds."""
    fake.rate_limit = (2, 10.0)
    hs = make_hs(rate_limit=(1000, 10.0))
    rid = fake.seed("deals", {"dealname": "x"})
    hs.get_many("deals", [rid])
    hs_clock.advance(3)
    hs.get_many("deals", [rid])
    assert rid in hs.get_many("deals", [rid])  # the window is full until t=10: Retry-After 7
    assert hs_clock.sleeps == [7.0]
    assert [c.status for c in fake.calls] == [200, 200, 429, 200]
    assert hs.stats == {"calls": 4, "rate_limited": 1, "retries": 1}


def test_5xx_honours_retry_after_else_backs_off_exponentially(fake, make_hs, hs_clock):
    """A 503 with Retry-After: 7 waits 7 s; two bare 500s wait 0.5 s then 1 s (jitter zero)."""
    hs = make_hs()
    rid = fake.seed("deals", {"dealname": "x"})
    fake.inject(503, match="batch/read", headers={"Retry-After": "7"})
    hs.get_many("deals", [rid])
    fake.inject(500, match="batch/read", times=2)
    hs.get_many("deals", [rid])
    assert hs_clock.sleeps == [7.0, 0.5, 1.0]


def test_persistent_429_gives_up_after_the_policy_attempts(fake, make_hs, hs_clock):
    """Five 429 TEN_SECONDLY_ROLLING answers in a row raise RateLimitError after four waits of Retry-After."""
    hs = make_hs(retry=RetryPolicy(attempts=5))
    body = {"status": "error", "message": "slow down", "policyName": "TEN_SECONDLY_ROLLING",
            "category": "RATE_LIMITS", "correlationId": "c-1"}
    fake.inject(429, match="batch/read", times=5, body=body, headers={"Retry-After": "2"})
    with pytest.raises(RateLimitError) as info:
        hs.get_many("deals", ["1"])
    assert hs_clock.sleeps == [2.0] * 4
    assert (info.value.code, info.value.details["correlationId"]) == ("TEN_SECONDLY_ROLLING", "c-1")


def test_daily_limit_stops_the_run(fake, make_hs, hs_clock):
    """A 429 DAILY is not retried; every later call of the adapter fails at once without reaching HubSpot."""
    fake.daily_limit = 2
    hs = make_hs()
    rid = fake.seed("deals", {"dealname": "x"})
    hs.get_many("deals", [rid])
    hs.get_many("deals", [rid])
    with pytest.raises(QuotaExhaustedError) as info:
        hs.get_many("deals", [rid])
    assert info.value.code == "DAILY" and not info.value.retryable
    with pytest.raises(QuotaExhaustedError) as raised:
        hs.update_many("deals", [UpdateRequest(rid, {"description": "x"})])
    assert raised.value.code == "DAILY"
    assert len(fake.calls) == 3 and hs_clock.sleeps == []


def test_daily_limit_through_the_gate_fails_every_write(fake, make_hs, hs_gate):
    """Through the gate, a spent daily allowance makes each proposal a failed outcome naming DAILY."""
    from tests.hubspot.conftest import deal_update

    rid = fake.seed("deals", {"dealname": "x", "dealstage": "qualifiedtobuy"})
    fake.daily_limit = 1
    outcomes = hs_gate(make_hs()).propose([deal_update(rid, description="a")])
    assert outcomes[0].status == "failed" and outcomes[0].error["code"] == "DAILY"
