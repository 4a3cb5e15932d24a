"""Fixtures for the HTTP API: a `crmgate init` project, a service with a fixed clock, tokens, a client."""
from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from crmgate.config import load_config
from crmgate.doors.api import build_service, create_app
from crmgate.project.scaffold import init_project
from crmgate.trail import generate_keypair, load_public_key, load_signer


class Monotonic:
    """Monotonic seconds that only move when told to (the request limiter's clock)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def keypair(tmp_path: Path):
    generate_keypair(tmp_path / "trail.key", tmp_path / "trail.pub")
    return load_signer(tmp_path / "trail.key", env={}), load_public_key(tmp_path / "trail.pub")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    init_project(tmp_path / "proj")
    return tmp_path / "proj"


@pytest.fixture
def mono() -> Monotonic:
    return Monotonic()


@pytest.fixture
def service(project: Path, clock, ids, mono):
    svc = build_service(load_config(project / "crmgate.yaml"), env={}, clock=clock, ids=ids, monotonic=mono)
    yield svc
    svc.gate.close()


@pytest.fixture
def token(service):
    """``token(actor, *scopes, **kw) -> bearer headers`` for a new credential."""

    def make(actor: str, *scopes: str, **kw) -> dict[str, str]:
        _cred, tok = service.credentials.create(actor, scopes, by="admin:root", **kw)
        return {"Authorization": f"Bearer {tok}"}

    return make


@pytest.fixture
def client(service) -> TestClient:
    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def agent(token) -> dict[str, str]:
    """The lead-intake agent: may propose and read, as ai:lead-intake-1."""
    return token("ai:lead-intake-1", "propose", "read")


@pytest.fixture
def admin(token) -> dict[str, str]:
    return token("admin:ana", "approve", "rollback", "export", "read")


def lead(**fields) -> dict:
    return {"object": "Lead", "op": "create",
            "fields": {"LastName": "Ng", "Company": "Initech", "Country": "US", **fields}}
