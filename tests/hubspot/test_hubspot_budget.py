"""Workers sharing one budget share HubSpot's window and its DAILY stop; several calls go out at once."""
from __future__ import annotations

import pytest

from crmgate.adapters.base import UpdateRequest
from crmgate.adapters.budget import WindowBudget
from crmgate.adapters.errors import QuotaExhaustedError
from crmgate.adapters.salesforce.errors import Allowance
from crmgate.doors.quota import RequestLimiter


def test_two_adapters_on_one_budget_share_the_window(fake, make_hs, hs_clock):
    """Two workers' adapters (one budget), 3 calls per 10 s: the fourth call, whoever makes it, waits
    until the first leaves the window (plus the margin), and HubSpot never answers 429."""
    fake.rate_limit = (3, 10.0)
    budget = WindowBudget.memory(hs_clock)
    a, b = make_hs(rate_limit=(3, 10.0), budget=budget), make_hs(rate_limit=(3, 10.0), budget=budget)
    rid = fake.seed("deals", {"dealname": "x"})
    for hs in (a, b, a, b):
        hs.get_many("deals", [rid])
    assert hs_clock.sleeps == pytest.approx([10.5]) and fake.count(status=429) == 0


def test_a_spent_daily_allowance_stops_every_worker(fake, make_hs, hs_clock):
    """One worker meets 429 DAILY; the other, on the same budget, stops without asking HubSpot."""
    budget = WindowBudget.memory(hs_clock)
    a, b = make_hs(budget=budget), make_hs(budget=budget)
    rid = fake.seed("deals", {"dealname": "x"})
    fake.daily_limit = 1
    a.get_many("deals", [rid])
    with pytest.raises(QuotaExhaustedError):
        a.get_many("deals", [rid])
    with pytest.raises(QuotaExhaustedError) as info:
        b.update_many("deals", [UpdateRequest(rid, {"description": "y"})])
    assert info.value.code == "DAILY" and len(fake.calls) == 2
    hs_clock.advance(3601)  # the trip lasts trip_s (an hour by default); a new worker may try again
    fake.daily_limit = None
    assert rid in make_hs(budget=budget).get_many("deals", [rid])


def test_salesforce_allowance_is_shared_through_the_budget(hs_clock):
    """REQUEST_LIMIT_EXCEEDED seen by one worker stops another on the same budget, for trip_s."""
    budget = WindowBudget.memory(hs_clock)
    one, two = Allowance(budget, "https://org"), Allowance(budget, "https://org")
    two.check()
    one.spent(QuotaExhaustedError("limit", code="REQUEST_LIMIT_EXCEEDED", status=403))
    with pytest.raises(QuotaExhaustedError):
        two.check()
    Allowance(budget, "https://other-org").check()


def test_many_records_go_out_several_calls_at_once_in_order(fake, make_hs):
    """450 updates are 5 batch reads and 5 batch updates; results come back in request order."""
    ids = [fake.seed("deals", {"dealname": f"d{i}"}) for i in range(450)]
    hs = make_hs(max_inflight=4)
    results = hs.update_many("deals", [UpdateRequest(i, {"description": f"v{n}"}, expected_version="0")
                                       for n, i in enumerate(ids)])
    assert [r.id for r in results] == ids
    assert {r.status for r in results} == {"conflict"}  # version "0" is never current: checked by re-read
    hs.update_many("deals", [UpdateRequest(i, {"description": f"v{n}"}) for n, i in enumerate(ids)])
    assert fake.record("deals", ids[449])["description"] == "v449"
    assert sum(c.path.endswith("batch/update") for c in fake.calls) == 5


def test_request_quotas_are_shared_by_workers_on_one_budget(hs_clock):
    """Two server workers' limiters on one budget: a credential's 3 requests per 60 s, in all."""
    budget = WindowBudget.memory(hs_clock)
    one, two = (RequestLimiter(default_limit=3, per_seconds=60, budget=budget) for _ in range(2))
    got = [lim.take("cred_a").allowed for lim in (one, two, one, two)]
    assert got == [True, True, True, False]
    assert two.peek("cred_a").retry_after == pytest.approx(60.0)


def test_one_failed_chunk_among_calls_in_flight_fails_only_its_records(fake, make_hs):
    """Three batch updates go out together; HubSpot refuses one (400): only its records fail, the
    others are applied, and the results stay in request order."""
    ids = [fake.seed("deals", {"dealname": f"d{i}"}) for i in range(250)]
    hs = make_hs(max_inflight=4)
    fake.inject(400, match="batch/update", after=1)
    results = hs.update_many("deals", [UpdateRequest(i, {"description": "z"}) for i in ids])
    assert [r.id for r in results] == ids
    failed = [r for r in results if r.status == "failed"]
    assert len(failed) in (100, 50) and len(results) - len(failed) == sum(r.status == "ok" for r in results)
    assert all(fake.record("deals", r.id)["description"] == "z" for r in results if r.status == "ok")
