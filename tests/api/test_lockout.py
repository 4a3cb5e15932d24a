"""Failed-auth throttling never refuses a valid token because others failed from the same address."""
from __future__ import annotations


def test_a_valid_token_works_from_an_address_at_its_failed_auth_limit(client, service, agent):
    """Over HTTP, from one address (a NAT): bad tokens hit the limit and get 429; the valid token
    from the same address is still answered 200, and its own request limit is what it spends."""
    service.failed_auth_limit = 2
    bad = {"Authorization": "Bearer crmgate.cred_000001.guess"}
    assert [client.get("/v1/whoami", headers=bad).status_code for _ in range(3)] == [401, 401, 429]
    assert client.get("/v1/whoami", headers={"Authorization": "Bearer junk"}).status_code == 429
    r = client.get("/v1/whoami", headers=agent)
    assert r.status_code == 200 and r.json()["actor"] == "ai:lead-intake-1"
    assert r.headers["RateLimit-Remaining"] == str(int(r.headers["RateLimit-Limit"]) - 1)
    assert client.get("/v1/whoami", headers=bad).status_code == 429
