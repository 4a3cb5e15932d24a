"""Retries in one place: exact backoff with injected sleep, Retry-After, locks, idempotent creates."""
from __future__ import annotations

import pytest

from crmgate.adapters.base import CreateRequest, UpdateRequest
from crmgate.adapters.errors import QuotaExhaustedError, TransportError, UnavailableError
from tests.salesforce.conftest import seed_leads

# default RetryPolicy: 0.5 * 2**(n-1) capped at 30, plus 0.25 * jitter; the tests' jitter is 0.5
BACKOFF = [0.625, 1.125, 2.125, 4.125]


def _two_updates(fake, adapter):
    ids = seed_leads(fake, 2)
    fake.calls.clear()
    return ids, [UpdateRequest(i, {"Title": "CFO"}) for i in ids]


@pytest.mark.parametrize("fault", [
    {"status": 503, "code": "SERVER_UNAVAILABLE"},
    {"status": 400, "code": "UNABLE_TO_LOCK_ROW"},
    {"drop": True},
], ids=["503", "UNABLE_TO_LOCK_ROW", "connection-error"])
def test_retryable_failures_back_off_exactly_then_succeed(fault, fake, adapter, sleeps):
    """Two failed calls then success: waits are 0.625 s then 1.125 s, and the write lands once."""
    _ids, requests = _two_updates(fake, adapter)
    fake.fail("collections.update", times=2, **fault)
    results = adapter.update_many("Lead", requests)
    assert [r.status for r in results] == ["ok", "ok"]
    assert sleeps == BACKOFF[:2]
    assert fake.kinds() == ["collections.update"] * 3


def test_retry_after_is_honoured(fake, adapter, sleeps):
    """A 503 with Retry-After: 7 waits exactly 7 seconds instead of the backoff."""
    _ids, requests = _two_updates(fake, adapter)
    fake.fail("collections.update", retry_after="7")
    adapter.update_many("Lead", requests)
    assert sleeps == [7.0]


def test_retries_stop_after_the_policy_attempts(fake, adapter, sleeps):
    """Five 503s: four waits, then the CRM's error is raised (not a tenacity RetryError)."""
    _ids, requests = _two_updates(fake, adapter)
    fake.fail("collections.update", times=5)
    with pytest.raises(UnavailableError) as info:
        adapter.update_many("Lead", requests)
    assert (info.value.code, info.value.status) == ("SERVER_UNAVAILABLE", 503)
    assert sleeps == BACKOFF


def test_locked_records_alone_are_sent_again(fake, adapter, sleeps):
    """A per-record UNABLE_TO_LOCK_ROW re-sends only that record after one backoff."""
    ids = seed_leads(fake, 3)
    fake.calls.clear()
    fake.fail("collections.update", records={"#1": "UNABLE_TO_LOCK_ROW"})
    results = adapter.update_many("Lead", [UpdateRequest(i, {"Title": "CFO"}) for i in ids])
    assert [r.status for r in results] == ["ok", "ok", "ok"]
    assert [(c.kind, c.records) for c in fake.calls] == [("collections.update", 3), ("collections.update", 1)]
    assert sleeps == BACKOFF[:1]
    assert all(fake.record(i)["Title"] == "CFO" for i in ids)


def test_validation_failures_are_not_retried(fake, adapter, sleeps):
    """A per-record INVALID_FIELD is a failed result after one call and no wait."""
    ids, _ = _two_updates(fake, adapter)
    results = adapter.update_many("Lead", [UpdateRequest(i, {"NoSuchField__c": 1}) for i in ids])
    assert [(r.status, r.error.code, r.error.fields) for r in results] == [
        ("failed", "INVALID_FIELD", ("NoSuchField__c",))] * 2
    assert sleeps == [] and fake.kinds() == ["collections.update"]


def test_request_limit_exceeded_stops_the_run(fake, adapter, sleeps):
    """403 REQUEST_LIMIT_EXCEEDED raises QuotaExhaustedError at once, and no later call is made."""
    ids, requests = _two_updates(fake, adapter)
    fake.fail("collections.update", status=403, code="REQUEST_LIMIT_EXCEEDED")
    with pytest.raises(QuotaExhaustedError) as info:
        adapter.update_many("Lead", requests)
    assert (info.value.code, info.value.status, info.value.retryable) == ("REQUEST_LIMIT_EXCEEDED", 403, False)
    with pytest.raises(QuotaExhaustedError) as raised:
        adapter.get_many("Lead", ids)
    assert raised.value.code == "REQUEST_LIMIT_EXCEEDED"
    assert sleeps == [] and fake.kinds() == ["collections.update"]


def test_api_usage_is_read_from_sforce_limit_info(fake, adapter):
    """The Sforce-Limit-Info header of the last answer is kept as (used, limit)."""
    [rid] = seed_leads(fake, 1)
    adapter.get_many("Lead", [rid])
    assert adapter.api_usage == (len(fake.calls), 100_000)


def test_a_retried_create_never_duplicates_with_an_upsert_key(fake, adapter, sleeps):
    """The create lands but its answer is lost; the retry upserts the same key: one record, same id."""
    fake.fail("collections.upsert", lose_reply=True)
    [result] = adapter.create_many("Lead", [CreateRequest({"LastName": "Ng", "Company": "Initech"}, "chg_1")])
    assert result.status == "ok" and result.info == {"idempotent_replay": True}
    leads = [r for r in fake.rows.values() if r.object == "Lead"]
    assert [r.id for r in leads] == [result.id]
    assert leads[0].fields["Crmgate_Key__c"] == "chg_1"
    assert sleeps == BACKOFF[:1]


def test_without_an_upsert_key_an_ambiguous_create_is_not_retried(fake, make_adapter, sleeps):
    """With no idempotency_field, a create whose answer was lost is reported, never sent twice."""
    adapter = make_adapter(idempotency_field=None)
    fake.fail("collections.create", lose_reply=True)
    with pytest.raises(TransportError) as info:
        adapter.create_many("Lead", [CreateRequest({"LastName": "Ng", "Company": "Initech"}, "chg_1")])
    assert info.value.code == "connection_error"
    assert info.value.retryable is False and "not_retried" in info.value.details
    assert len([r for r in fake.rows.values() if r.object == "Lead"]) == 1
    assert sleeps == []


def test_without_an_upsert_key_a_503_create_is_not_retried_and_is_ambiguous(fake, make_adapter, sleeps):
    """A 503 may follow an applied create: without an upsert key a blind retry could duplicate the
    record, so it is not retried and the error says its effect is unknown (issue 13: 10 duplicates)."""
    adapter = make_adapter(idempotency_field=None)
    fake.fail("collections.create")
    with pytest.raises(UnavailableError) as raised:
        adapter.create_many("Lead", [CreateRequest({"LastName": "Ng", "Company": "Initech"}, "k")])
    assert raised.value.ambiguous and sleeps == []
    assert fake.kinds().count("collections.create") == 1


def test_with_an_upsert_key_a_lost_reply_is_retried_into_one_record(fake, make_adapter, sleeps):
    """With the External ID a create whose reply was lost is sent again and lands once."""
    adapter = make_adapter()
    fake.fail("collections.upsert", lose_reply=True)
    [result] = adapter.create_many("Lead", [CreateRequest({"LastName": "Ng", "Company": "Initech"}, "k")])
    assert result.ok and result.info == {"idempotent_replay": True}
    assert sum(1 for r in fake.rows.values() if r.object == "Lead") == 1


def test_error_rate_is_absorbed_by_retries(fake, adapter):
    """With a seeded 30% error rate on retrieve, reads still succeed through the retry policy."""
    ids = seed_leads(fake, 5)
    fake.error_rate("retrieve", 0.3, seed=3)
    for rid in ids:
        assert rid in adapter.get_many("Lead", [rid])
