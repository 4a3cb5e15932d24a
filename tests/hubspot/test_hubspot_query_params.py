"""The query parameters the HubSpot adapter sends are the ones HubSpot's published spec declares,
with their documented types; the fake refuses any other, as HubSpot's spec does."""
from __future__ import annotations

import httpx
import pytest
from hubspot import HubSpot
from hubspot.crm.objects.exceptions import ApiException

from crmgate.adapters.base import UpdateRequest
from crmgate.adapters.hubspot.adapter import HubSpotAdapter
from tests.fakes.hubspot_fake import FakeHubSpot
from tests.hubspot.conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
READ = {"inputs": [{"id": "1"}], "properties": ["dealname"], "propertiesWithHistory": []}


def test_batch_reads_carry_no_archived_parameter(fake: FakeHubSpot, hs: HubSpotAdapter) -> None:
    """A read and a checked update (both batch reads) go through the strict fake, and no request
    the adapter sends has a query string at all."""
    rid = fake.seed("deals", {"dealname": "Acme", "dealstage": "qualifiedtobuy"})
    [rec] = hs.get_many("deals", [rid]).values()
    [res] = hs.update_many("deals", [UpdateRequest(rid, {"dealname": "Acme 2"}, rec.version)])
    assert res.status == "ok", res
    assert fake.count("batch/read", status=200) >= 1 and fake.count("batch/update", status=200) == 1
    assert [c.query for c in fake.calls if c.query] == []


def test_the_sdk_spelling_of_archived_false_is_refused(fake: FakeHubSpot) -> None:
    """The SDK sends `archived=False` (Python's spelling), which the spec's boolean refuses: the
    fake answers 400 VALIDATION_ERROR, so an adapter that passed it again would fail the tests."""
    batch = HubSpot(access_token=TOKEN, host=fake.url).crm.objects.batch_api
    with pytest.raises(ApiException) as caught:
        batch.read("deals", READ, archived=False)
    assert caught.value.status == 400
    assert "'False' is not a boolean" in caught.value.body


@pytest.mark.parametrize(("path", "status", "problem"), [
    # 207: the id does not exist, so the call itself was accepted
    ("/crm/v3/objects/deals/batch/read?archived=false", 207, None),
    ("/crm/v3/objects/deals/batch/read?archived=true", 207, None),
    ("/crm/v3/objects/deals/batch/read?archived=False", 400, "archived: 'False' is not a boolean"),
    ("/crm/v3/objects/deals/batch/read?archived=", 400, "archived: '' is not a boolean"),
    ("/crm/v3/objects/deals/batch/read?limit=5", 400, "limit is not a query parameter of this endpoint"),
    ("/crm/v3/objects/deals/batch/update?archived=false", 400,
     "archived is not a query parameter of this endpoint"),
])
def test_the_fake_checks_query_parameters_against_the_spec(fake: FakeHubSpot, path: str, status: int,
                                                           problem: str | None) -> None:
    """Documented parameters of the right type pass; anything else is HubSpot's error body, located in the query."""
    body = READ if "read" in path else {"inputs": []}
    r = httpx.post(fake.url + path, json=body, headers=AUTH, timeout=10)
    assert r.status_code == status, r.text
    if problem is not None:
        err = r.json()
        assert err["category"] == "VALIDATION_ERROR" and err["correlationId"]
        assert err["errors"] == [{"message": problem, "in": "query", "code": "INVALID_QUERY_PARAMETER"}]


def test_single_object_reads_take_their_documented_parameters(fake: FakeHubSpot) -> None:
    """The basic read takes properties and a boolean archived; an integer `limit` belongs to the list endpoint."""
    rid = fake.seed("deals", {"dealname": "Acme"})
    ok = httpx.get(f"{fake.url}/crm/v3/objects/deals/{rid}?properties=dealname&archived=false", headers=AUTH)
    assert ok.status_code == 200 and ok.json()["properties"]["dealname"] == "Acme"
    bad = httpx.get(f"{fake.url}/crm/v3/objects/deals/{rid}?limit=10", headers=AUTH)
    assert bad.status_code == 400 and bad.json()["errors"][0]["in"] == "query"
