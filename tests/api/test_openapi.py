"""The committed OpenAPI document: in sync with the app, served as is, and fuzzed by schemathesis."""
from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode

from crmgate.config import load_config
from crmgate.doors.api import build_service, create_app
from crmgate.doors.api.app import openapi_document
from crmgate.project.scaffold import init_project

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "openapi.json"
OPERATIONS = [op.ok().label for op in schemathesis.openapi.from_path(DOC).get_all_operations()]
NO_INPUT = {"GET /v1/health", "GET /v1/whoami", "GET /v1/capabilities"}  # nothing to make invalid
FUZZ = [(label, mode) for label in OPERATIONS for mode in GenerationMode
        if not (mode is GenerationMode.NEGATIVE and label in NO_INPUT)]

FUZZ_USE_CASE = """\
  fuzz:
    actors: ["svc:fuzz"]
    mode: enforce
    allow:
      Lead: {ops: [create, update], fields: [LastName, Company, Email, Country, NumberOfEmployees, Rating]}
      Opportunity: {ops: [create, update, delete], fields: [Name, StageName, CloseDate, Amount, NextStep]}
"""


def test_committed_document_matches_the_app():
    """docs/openapi.json is what the app generates (regenerate: python -m crmgate.doors.api > docs/openapi.json)."""
    assert json.loads(DOC.read_text()) == json.loads(json.dumps(openapi_document()))


def test_the_served_document_is_the_committed_one(client):
    """GET /v1/openapi.json serves the same document, without a credential."""
    assert client.get("/v1/openapi.json").json() == json.loads(DOC.read_text())


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    """One project for the whole fuzz run: a service account with every scope and a use case."""
    project = tmp_path_factory.mktemp("fuzz") / "proj"
    init_project(project)
    rules = project / "rules.yaml"
    rules.write_text(rules.read_text() + FUZZ_USE_CASE)
    service = build_service(load_config(project / "crmgate.yaml"), env={})
    _cred, token = service.credentials.create(
        "svc:fuzz", ["propose", "read", "approve", "rollback", "export"], by="admin:root",
        rate_limit=10**9)  # the fuzzer must reach the routes, not the request limits
    service.failed_auth_limit = 10**9  # it sends bad tokens on purpose, from one client
    yield create_app(service), {"Authorization": f"Bearer {token}"}, service
    service.gate.close()


def _state(service) -> tuple[int, list]:
    with closing(sqlite3.connect(service.gate.adapter.path)) as crm:
        rows = crm.execute("SELECT id, fields, system_modstamp FROM sandbox_records ORDER BY id").fetchall()
    return service.gate.store.head()[0], rows


@pytest.mark.parametrize("label, mode", FUZZ)
def test_fuzzing_finds_no_server_error_and_no_write_from_a_refused_request(fuzz_target, label, mode):
    """Schemathesis-generated requests for each operation of the committed document, valid and
    invalid, never get a 5xx or a response that breaks the document, and a request answered 4xx
    leaves the trail and the CRM untouched."""
    app, auth, service = fuzz_target
    loaded = schemathesis.openapi.from_path(DOC)
    loaded.app = app
    [operation] = [op.ok() for op in loaded.get_all_operations() if op.ok().label == label]

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case):
        before = _state(service)
        response = case.call_and_validate(base_url="http://testserver", headers=auth,
                                          excluded_checks=[schemathesis.checks.positive_data_acceptance])
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert _state(service) == before, (response.status_code, response.text)

    fuzz()
