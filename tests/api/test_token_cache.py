"""``crmgate serve`` trusts a checked token for TOKEN_CACHE_SECONDS: one credential read per token
and second, not per request; a token revoked by another process stops working within that bound."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from crmgate.config import load_config
from crmgate.doors.api import build_service, create_app
from crmgate.doors.credentials import TOKEN_CACHE_SECONDS, Credentials
from tests.api.conftest import lead


@pytest.fixture
def served(project, clock, ids, mono):
    service = build_service(load_config(project / "crmgate.yaml"), env={}, clock=clock, ids=ids, monotonic=mono,
                            token_cache_seconds=TOKEN_CACHE_SECONDS)
    with TestClient(create_app(service), raise_server_exceptions=False) as client:
        yield service, client
    service.gate.close()


def credential_reads(engine: sa.Engine) -> list[str]:
    """The credential-table reads made on ``engine`` from now on."""
    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda _c, _cur, statement, *_a: seen.append(statement) if "crmgate_credentials" in statement
                    else None)
    return seen


def test_requests_within_the_cache_seconds_read_the_token_once(served, mono):
    service, client = served
    _cred, tok = service.credentials.create("ai:lead-intake-1", ["propose", "read"], by="admin:root")
    headers = {"Authorization": f"Bearer {tok}"}
    reads = credential_reads(service.gate.store.engine)
    for _ in range(3):
        assert client.get("/v1/whoami", headers=headers).status_code == 200
    assert len(reads) == 1
    mono.now += TOKEN_CACHE_SECONDS
    assert client.post("/v1/proposals", json={"proposals": [lead()]}, headers=headers).status_code == 200
    assert len(reads) == 2


def test_a_token_revoked_by_another_process_is_refused_within_the_bound(served, mono):
    """``crmgate tokens revoke`` runs in its own process (here: its own Credentials on the store):
    the server keeps answering the token for less than TOKEN_CACHE_SECONDS, then refuses it."""
    service, client = served
    cred, tok = service.credentials.create("ai:lead-intake-1", ["propose", "read"], by="admin:root")
    headers = {"Authorization": f"Bearer {tok}"}
    assert client.get("/v1/whoami", headers=headers).status_code == 200
    Credentials(service.gate.store, clock=service.gate.clock, ids=service.gate.ids).revoke(cred.id, by="admin:ana")
    mono.now += TOKEN_CACHE_SECONDS / 2
    assert client.get("/v1/whoami", headers=headers).status_code == 200
    mono.now += TOKEN_CACHE_SECONDS / 2
    r = client.post("/v1/proposals", json={"proposals": [lead()]}, headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "revoked_token"
    assert [e.kind for e in service.gate.store.iter_entries()][-1] == "credential.revoked"  # nothing proposed
