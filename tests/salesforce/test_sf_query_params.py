"""The query parameters the Salesforce adapter sends are the documented ones, with their documented
types; the fake refuses any other, so a regression fails the tests."""
from __future__ import annotations

import pytest
import requests

from crmgate.adapters.base import DeleteRequest
from tests.fakes.salesforce_fake import SESSION_ID

AUTH = {"Authorization": f"Bearer {SESSION_ID}"}


def test_collections_delete_sends_ids_and_a_lowercase_boolean(fake, adapter) -> None:
    """delete_many's Collections call passes the strict fake: `ids` and `allOrNone=false`."""
    rid = fake.seed("Lead", {"LastName": "Ng", "Company": "Initech"})
    [res] = adapter.delete_many("Lead", [DeleteRequest(rid)])
    assert res.status == "ok", res
    assert [c.kind for c in fake.calls].count("collections.delete") == 1


@pytest.mark.parametrize(("query", "status", "message"), [
    ("ids={id}&allOrNone=false", 200, None),
    ("ids={id}&allOrNone=False", 400, "Cannot deserialize value of type boolean from 'False' for allOrNone"),
    ("ids={id}&archived=false", 400, "Unknown query parameter: archived"),
    ("allOrNone=false", 400, "Required query parameter ids is missing"),
    ("ids={id},", 400, "Query parameter ids has an empty item"),
])
def test_the_fake_checks_collections_delete_parameters(fake, query: str, status: int, message: str | None) -> None:
    """Documented parameters pass; anything else is Salesforce's error list, and nothing is deleted."""
    rid = fake.seed("Lead", {"LastName": "Ng", "Company": "Initech"})
    url = f"{fake.url}/services/data/v{fake.api_version}/composite/sobjects?{query.format(id=rid)}"
    r = requests.delete(url, headers=AUTH, timeout=10)
    assert r.status_code == status, r.text
    if message is not None:
        assert r.json() == [{"errorCode": "INVALID_PARAMETER_VALUE", "message": message, "fields": []}]
        assert requests.get(f"{fake.url}/services/data/v{fake.api_version}/sobjects/Lead/{rid}",
                            headers=AUTH, timeout=10).status_code == 200
