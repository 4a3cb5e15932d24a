"""HubSpot: batch-create results that cannot be matched to their inputs are unknown, not failed."""
from __future__ import annotations

import pytest

from crmgate.adapters.base import CreateRequest
from crmgate.adapters.errors import UnavailableError


def test_an_unmatched_create_result_is_ambiguous(fake, make_hs):
    """Without the echoed objectWriteTraceId (optional in the spec) and without a key property, a
    created record cannot be tied to its input: the result is failed-and-ambiguous (unknown)."""
    fake.echo_trace = False
    hs = make_hs(idempotency_property=None)
    [res] = hs.create_many("companies", [CreateRequest({"name": "Initech"}, "k1")])
    assert res.status == "failed" and res.error.code == "missing_result" and res.error.ambiguous


def test_the_key_property_still_matches_without_trace_ids(fake, hs):
    """With the unique key property, the result is matched by it even when no trace id comes back."""
    fake.echo_trace = False
    [res] = hs.create_many("companies", [CreateRequest({"name": "Initech"}, "k1")])
    assert res.ok and res.id


def test_a_5xx_after_apply_on_a_later_chunk_is_ambiguous_and_the_rest_certain(fake, make_hs):
    """Chunk 2 applied then answered 500 (after retries): ambiguous; chunk 3 never sent: certain."""
    hs = make_hs(idempotency_property=None, retry=None)
    hs.max_batch = 1
    fake.inject(500, match="batch/create", after=1, after_apply=True, times=5)
    got = hs.create_many("companies", [CreateRequest({"name": f"C{n}"}) for n in range(3)])
    assert [r.status for r in got] == ["ok", "failed", "failed"]
    assert [r.error.ambiguous for r in got[1:]] == [True, False]


def test_a_create_without_a_key_property_is_not_re_sent_after_a_5xx_after_apply(fake, make_hs):
    """No unique key property: HubSpot cannot refuse a second copy, so a create answered 500 after it
    was applied is not sent again (it would duplicate); it is unknown, and one record exists."""
    hs = make_hs(idempotency_property=None)
    fake.inject(500, match="batch/create", after_apply=True, times=5)
    with pytest.raises(UnavailableError) as raised:
        hs.create_many("companies", [CreateRequest({"name": "Initech"})])
    assert raised.value.ambiguous and not raised.value.retryable
    assert fake.count("batch/create") == 1
    assert len(fake._recs["companies"]) == 1


def test_a_create_with_a_key_property_is_retried_safely(fake, hs):
    """With the unique key property a re-sent create is refused as a duplicate and answered by a read:
    retrying is safe, and the create ends ok with one record."""
    fake.inject(500, match="batch/create", after_apply=True, times=1)
    [res] = hs.create_many("companies", [CreateRequest({"name": "Initech"}, "k-9")])
    assert res.ok and len(fake._recs["companies"]) == 1
