"""The HTTP API in process: proposals as the credential's actor, checks, reads, and what is refused."""
from __future__ import annotations

import io
import sqlite3
import zipfile
from contextlib import closing

import pytest
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from crmgate.audit.verify_export import verify_export
from crmgate.config import load_config
from crmgate.doors.api import build_service, create_app
from crmgate.doors.credentials import AccessError
from crmgate.trail import load_public_key
from tests.api.conftest import lead


def _trail_and_crm(service) -> tuple[int, list]:
    """What a refused request must leave unchanged: the trail head and every sandbox record."""
    with closing(sqlite3.connect(service.gate.adapter.path)) as crm:
        rows = crm.execute("SELECT id, fields, system_modstamp FROM sandbox_records ORDER BY id").fetchall()
    return service.gate.store.head()[0], rows


def test_health_needs_no_credential(client):
    """/v1/health answers without a token, so load balancers can probe it."""
    r = client.get("/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_a_proposal_is_made_as_the_credentials_actor(client, agent, service):
    """No actor in the body: the outcome and the trail carry the credential's actor."""
    r = client.post("/v1/proposals", json={"proposals": [lead()]}, headers=agent)
    assert r.status_code == 200
    [outcome] = r.json()["outcomes"]
    assert outcome["status"] == "applied" and outcome["actor"] == "ai:lead-intake-1"
    assert r.headers["RateLimit-Limit"] == "120" and r.headers["RateLimit-Remaining"] == "119"
    decided = service.gate.store.entries_for(proposal_id=outcome["proposal_id"])[0]
    assert decided.kind == "proposal.decided" and decided.actor == "ai:lead-intake-1"
    assert service.gate.record("Lead", outcome["record_id"]).fields["LastName"] == "Ng"


def test_impersonation_is_refused_and_writes_nothing(client, agent, service):
    """A body naming another actor is 403 actor_mismatch, for the whole request: nothing decided."""
    before = _trail_and_crm(service)
    body = {"proposals": [lead(), {**lead(), "actor": "ai:deal-hygiene"}]}
    r = client.post("/v1/proposals", json=body, headers=agent)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "actor_mismatch"
    assert r.json()["error"]["details"] == {"index": 1, "actor": "ai:lead-intake-1", "claimed": "ai:deal-hygiene"}
    assert _trail_and_crm(service) == before


def test_naming_its_own_actor_is_fine(client, agent):
    """An explicit actor equal to the credential's is accepted."""
    r = client.post("/v1/proposals", json={"proposals": [{**lead(), "actor": "ai:lead-intake-1"}]}, headers=agent)
    assert r.json()["outcomes"][0]["status"] == "applied"


def test_a_rejection_is_data_with_a_fix_per_violation(client, agent):
    """Rule violations come back in a 200 outcome, each with an instruction that resolves it."""
    r = client.post("/v1/proposals", json={"proposals": [lead(Country="USA", Rating="Scorching")]}, headers=agent)
    assert r.status_code == 200
    [outcome] = r.json()["outcomes"]
    assert outcome["status"] == "rejected"
    fixes = {v["field"]: v["fix"] for v in outcome["violations"]}
    assert fixes["Country"] == "Send Country (text; at most 2 characters) instead."
    assert fixes["Rating"] == "Send Rating (one of Hot, Warm, Cold) instead."


def test_malformed_proposals_are_422_and_write_nothing(client, agent, service):
    """Schema errors and op/record_id mismatches are structured 422s; nothing is decided."""
    before = _trail_and_crm(service)
    cases = [
        ({"proposals": [{**lead(), "colour": "red"}]}, "invalid_request"),
        ({"proposals": []}, "invalid_request"),
        ({"proposals": [{**lead(), "confidence": 1.5}]}, "invalid_request"),
        ({"proposals": [{**lead(), "op": "update"}]}, "invalid_proposal"),
        ({"proposals": [{"object": "Lead", "op": "delete", "record_id": "00Q1", "fields": {"x": 1}}]},
         "invalid_proposal"),
        ([lead()], "invalid_request"),
    ]
    for body, code in cases:
        r = client.post("/v1/proposals", json=body, headers=agent)
        assert r.status_code == 422, body
        assert r.json()["error"]["code"] == code, body
        assert "Traceback" not in r.text
    r = client.post("/v1/proposals", content=b"{not json", headers={**agent, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    assert _trail_and_crm(service) == before


def test_too_many_proposals_in_one_request(client, agent, service):
    """More than server.max_proposals is refused before anything is decided."""
    service.max_proposals = 2
    r = client.post("/v1/proposals", json={"proposals": [lead()] * 3}, headers=agent)
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_many_proposals"


def test_check_writes_nothing_and_predicts_the_outcome(client, agent, service):
    """A check appends no entry and writes nothing; proposing the same thing then does what it said."""
    body = {"proposals": [lead(), lead(Country="USA")]}
    before = _trail_and_crm(service)
    r = client.post("/v1/proposals/check", json=body, headers=agent)
    assert r.status_code == 200
    checks = r.json()["checks"]
    assert [c["status"] for c in checks] == ["applied", "rejected"]
    assert all(c["dry_run"] for c in checks) and checks[1]["violations"][0]["fix"]
    assert _trail_and_crm(service) == before
    outcomes = client.post("/v1/proposals", json=body, headers=agent).json()["outcomes"]
    assert [o["status"] for o in outcomes] == ["applied", "rejected"]
    assert [o["rule"] for o in outcomes] == [c["rule"] for c in checks]


def test_check_of_a_used_idempotency_key_says_replayed(client, agent):
    """A key used before: the check reports the first outcome's status, replayed."""
    p = {**lead(), "idempotency_key": "lead-7"}
    first = client.post("/v1/proposals", json={"proposals": [p]}, headers=agent).json()["outcomes"][0]
    [c] = client.post("/v1/proposals/check", json={"proposals": [p]}, headers=agent).json()["checks"]
    assert c["replayed"] and c["status"] == "applied" and c["record_id"] == first["record_id"]


def test_another_actors_idempotency_key_is_409(client, agent, token):
    """One agent cannot read another's outcome by reusing its idempotency key."""
    other = token("ai:lead-intake-2", "propose")
    client.post("/v1/proposals", json={"proposals": [{**lead(), "idempotency_key": "k1"}]}, headers=agent)
    r = client.post("/v1/proposals", json={"proposals": [{**lead(), "idempotency_key": "k1"}]}, headers=other)
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_in_use"
    assert "record_id" not in r.text


def test_reading_a_change_and_a_proposal(client, agent):
    """A change's status and its trail entries, by change id and by proposal id."""
    [o] = client.post("/v1/proposals", json={"proposals": [lead()]}, headers=agent).json()["outcomes"]
    by_change = client.get(f"/v1/changes/{o['change_id']}", headers=agent).json()
    by_proposal = client.get(f"/v1/proposals/{o['proposal_id']}", headers=agent).json()
    assert by_change == by_proposal
    assert by_change["status"] == "applied" and by_change["record_id"] == o["record_id"]
    assert [e["kind"] for e in by_change["entries"]] == ["proposal.decided", "write.intent", "write.result"]


def test_another_actors_change_is_not_found_unless_admin(client, agent, token, admin):
    """A non-admin reads only its own actor's changes (404, not 403: ids cannot be probed)."""
    [o] = client.post("/v1/proposals", json={"proposals": [lead()]}, headers=agent).json()["outcomes"]
    reader = token("ai:lead-intake-2", "read")
    r = client.get(f"/v1/changes/{o['change_id']}", headers=reader)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert client.get(f"/v1/changes/{o['change_id']}", headers=admin).json()["status"] == "applied"
    assert client.get("/v1/changes/chg_nope", headers=admin).status_code == 404


def test_records_of_governed_objects_only(client, agent, service):
    """A governed record reads; an ungoverned object or a missing record is 404."""
    [o] = client.post("/v1/proposals", json={"proposals": [lead()]}, headers=agent).json()["outcomes"]
    r = client.get(f"/v1/records/Lead/{o['record_id']}", headers=agent)
    assert r.status_code == 200 and r.json()["fields"]["Company"] == "Initech"
    assert client.get("/v1/records/Campaign/701000000000001AAA", headers=agent).json()["error"]["code"] == "unknown_object"
    assert client.get("/v1/records/Lead/00Q000000000999AAA", headers=agent).json()["error"]["code"] == "record_not_found"


def test_a_crm_failure_reading_a_record_is_502(client, agent, service):
    """A whole-call CRM failure surfaces as 502 with the CRM's code, not a 500."""
    service.gate.adapter.inject_fault("get_many", code="unavailable", status=503, whole_call=True)
    r = client.get("/v1/records/Lead/00Q000000000001EAA", headers=agent)
    assert r.status_code == 502 and r.json()["error"]["code"]


def test_scopes_are_enforced(client, token, agent):
    """Each route needs its scope: 403 missing_scope naming it."""
    reader = token("ai:lead-intake-1", "read")
    r = client.post("/v1/proposals", json={"proposals": [lead()]}, headers=reader)
    assert r.status_code == 403 and r.json()["error"]["details"]["needed"] == "propose"
    proposer = token("ai:lead-intake-1", "propose")
    assert client.get("/v1/changes/chg_1", headers=proposer).json()["error"]["code"] == "missing_scope"
    for method, path, body in [("GET", "/v1/approvals", None), ("POST", "/v1/approvals/chg_1/approve", {}),
                               ("POST", "/v1/approvals/chg_1/reject", {"reason": "no"}),
                               ("POST", "/v1/rollbacks", {"change": "chg_1"}), ("POST", "/v1/exports", {})]:
        r = client.request(method, path, json=body, headers=agent)
        assert r.status_code == 403, path
        assert r.json()["error"]["code"] == "missing_scope", path


def test_unknown_and_revoked_tokens_are_401(client, service, agent):
    """No token, a made-up one, and a revoked one: 401 with WWW-Authenticate, nothing written."""
    assert client.get("/v1/whoami").status_code == 401
    r = client.get("/v1/whoami", headers={"Authorization": "Bearer crmgate.cred_000001.forged"})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/v1/whoami", headers=agent).status_code == 200
    [cred] = [c for c in service.credentials.list() if c.actor == "ai:lead-intake-1"]
    service.credentials.revoke(cred.id, by="admin:root")
    r = client.post("/v1/proposals", json={"proposals": [lead()]}, headers=agent)
    assert r.status_code == 401 and r.json()["error"]["code"] == "revoked_token"


def test_refusals_are_logged_without_the_token(client, service):
    """Every refusal is logged with its code and credential id; the token never appears."""
    _cred, tok = service.credentials.create("ai:lead-intake-1", ["read"], by="admin:root")
    service.credentials.revoke(_cred.id, by="admin:root")
    reader_cred, reader = service.credentials.create("ai:lead-intake-1", ["read"], by="admin:root")
    with capture_logs() as logs:
        client.get("/v1/whoami", headers={"Authorization": f"Bearer {tok}"})
        client.post("/v1/proposals", json={"proposals": [lead()]}, headers={"Authorization": f"Bearer {reader}"})
        client.post("/v1/proposals", json={"proposals": [lead()]}, headers={"Authorization": "Bearer junk"})
    refused = [e for e in logs if e["event"] == "access.refused"]
    assert [e["code"] for e in refused] == ["revoked_token", "missing_scope", "invalid_token"]
    assert refused[1]["credential_id"] == reader_cred.id
    text = repr(logs)
    assert tok not in text and reader not in text and tok.rsplit(".", 1)[1] not in text


def test_request_limit_per_credential(client, token, mono):
    """Past its limit a credential gets 429 with Retry-After (until its oldest request leaves the
    60 s window); others are unaffected; then it is served again."""
    slow = token("ai:lead-intake-1", "read", rate_limit=2)
    other = token("ai:lead-intake-2", "read")
    assert [client.get("/v1/whoami", headers=slow).status_code for _ in range(3)] == [200, 200, 429]
    r = client.get("/v1/whoami", headers=slow)
    assert r.json()["error"]["code"] == "rate_limited" and r.headers["Retry-After"] == "60"
    assert client.get("/v1/whoami", headers=other).status_code == 200
    mono.now += 60
    assert client.get("/v1/whoami", headers=slow).status_code == 200


def test_approve_and_reject_as_the_credentials_actor(client, token, admin, service):
    """An admin approves (with an edit) and rejects queued changes; `by` is the admin's actor."""
    deals = token("ai:deal-hygiene", "propose")
    created = service.gate.propose({"object": "Opportunity", "op": "create", "actor": "ai:deal-intake",
                                    "fields": {"Name": "Initech", "StageName": "Proposal",
                                               "CloseDate": "2027-01-29"}})[0]
    change = {"object": "Opportunity", "op": "update", "record_id": created.record_id, "confidence": 0.9,
              "fields": {"ForecastCategoryName": "Commit"}}
    q1 = client.post("/v1/proposals", json={"proposals": [change]}, headers=deals).json()["outcomes"][0]
    assert q1["status"] == "queued"
    listed = client.get("/v1/approvals", params={"status": "pending"}, headers=admin).json()["approvals"]
    assert [q["change_id"] for q in listed] == [q1["change_id"]]
    r = client.post(f"/v1/approvals/{q1['change_id']}/approve", json={"note": "ok",
                    "edits": {"ForecastCategoryName": "Best Case"}}, headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "applied" and r.json()["by"] == "admin:ana"
    assert service.gate.record("Opportunity", created.record_id).fields["ForecastCategoryName"] == "Best Case"
    q2 = client.post("/v1/proposals", json={"proposals": [{**change, "fields": {"ForecastCategoryName": "Omitted"}}]},
                     headers=deals).json()["outcomes"][0]
    r = client.post(f"/v1/approvals/{q2['change_id']}/reject", json={"reason": "not yet"}, headers=admin)
    assert r.json()["status"] == "rejected"
    view = client.get(f"/v1/changes/{q2['change_id']}", headers=admin).json()
    assert view["status"] == "rejected" and view["rejected_by"] == "admin:ana"
    again = client.post(f"/v1/approvals/{q2['change_id']}/approve", json={}, headers=admin)
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_pending"


def test_a_proposer_cannot_approve_its_own_change(project, clock, ids, mono):
    """Separation of duties holds over HTTP: a service account that proposed gets 403 approving it."""
    rules = project / "rules.yaml"
    rules.write_text(rules.read_text() + (
        "  deal_desk:\n    actors: [\"svc:deal-desk\"]\n    mode: suggest\n"
        "    allow:\n      Opportunity: {ops: [create], fields: [Name, StageName, CloseDate]}\n"))
    service = build_service(load_config(project / "crmgate.yaml"), env={}, clock=clock, ids=ids, monotonic=mono)
    _cred, tok = service.credentials.create("svc:deal-desk", ["propose", "approve"], by="admin:root")
    desk = {"Authorization": f"Bearer {tok}"}
    with TestClient(create_app(service)) as client:
        [q] = client.post("/v1/proposals", headers=desk, json={"proposals": [{
            "object": "Opportunity", "op": "create",
            "fields": {"Name": "Initech", "StageName": "Proposal", "CloseDate": "2027-01-29"}}]}).json()["outcomes"]
        assert q["status"] == "queued"
        r = client.post(f"/v1/approvals/{q['change_id']}/approve", json={}, headers=desk)
    service.gate.close()
    assert r.status_code == 403 and r.json()["error"]["code"] == "approver_is_proposer"


def test_rollback_and_export_for_admins(client, agent, admin, project, tmp_path):
    """An admin rolls a change back, and exports a trail that verifies offline with the public key."""
    [o] = client.post("/v1/proposals", json={"proposals": [lead()]}, headers=agent).json()["outcomes"]
    r = client.post("/v1/rollbacks", json={"change": o["change_id"]}, headers=admin)
    assert r.status_code == 200 and r.json()["summary"]["reverted"] == 1
    assert client.get(f"/v1/changes/{o['change_id']}", headers=admin).json()["status"] == "rolled_back"
    r = client.post("/v1/exports", json={"format": "csv", "actor": "ai:lead-intake-1"}, headers=admin)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert sorted(zf.namelist()) == ["trail.csv", "trail.csv.chain", "trail.csv.entries.jsonl",
                                       "trail.csv.manifest.json"]
        zf.extractall(tmp_path / "audit")
    report = verify_export(tmp_path / "audit" / "trail.csv", load_public_key(project / "trail.pub"))
    assert report.ok, report.to_dict()
    bad = client.post("/v1/rollbacks", json={"change": o["change_id"], "batch": "bat_1"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_selector"
    bad = client.post("/v1/exports", json={"since": "yesterday"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_time"


def test_capabilities_show_the_actors_boundaries(client, agent):
    """The rulebook's grants for the credential's actor, with each field's JSON Schema."""
    caps = client.get("/v1/capabilities", headers=agent).json()
    [grant] = caps["grants"]
    assert grant["use_case"] == "lead_intake" and grant["ops"] == ["create", "update"]
    assert grant["fields"]["Rating"] == {"anyOf": [{"type": "string", "enum": ["Hot", "Warm", "Cold"]},
                                                   {"type": "null"}]}
    assert grant["fields"]["LastName"] == {"type": "string"}


def test_an_oversized_body_is_413_before_anything_is_read(service, agent):
    """A body over the cap is refused whether Content-Length announces it or it streams in chunks."""
    with TestClient(create_app(service, max_body_bytes=2000)) as small:
        body = {"proposals": [lead(LastName="x" * 3000)]}
        r = small.post("/v1/proposals", json=body, headers=agent)
        assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"

        def chunks():
            yield b'{"proposals": [{"object": "Lead", "op": "create", "fields": {"LastName": "'
            for _ in range(50):
                yield b"y" * 100
            yield b'"}}]}'
        r = small.post("/v1/proposals", content=chunks(), headers={**agent, "Content-Type": "application/json"})
        assert r.status_code == 413
        assert small.post("/v1/proposals", json={"proposals": [lead()]}, headers=agent).status_code == 200
    assert service.gate.store.head()[0] > 0


def test_an_unknown_query_parameter_is_refused(client, admin):
    """A typo'd filter is 422, not a silently wider listing."""
    r = client.get("/v1/approvals", params={"statuz": "pending"}, headers=admin)
    assert r.status_code == 422 and r.json()["error"]["details"] == {"unknown": ["statuz"]}
    assert client.get("/v1/approvals", params={"status": "pending"}, headers=admin).status_code == 200
    assert client.get("/v1/whoami", params={"x": "1"}, headers=admin).status_code == 422


def test_guessing_tokens_is_throttled_per_client(service, agent, mono):
    """Past failed_auth_limit unknown tokens, a client's further unknown tokens get 429 while other
    clients are unaffected, and a valid token from the same address still works (a NAT or proxy
    shares it); the window refills it."""
    service.failed_auth_limit = 3
    token = agent["Authorization"].removeprefix("Bearer ")
    for guess in ("crmgate.cred_000001.a", "crmgate.cred_000001.b", None):
        with pytest.raises(AccessError) as info:
            service.admit(guess, action="test", client="10.0.0.9")
        assert info.value.status == 401
    for guess in ("crmgate.cred_000001.c", "junk", None):
        with pytest.raises(AccessError) as info:
            service.admit(guess, action="test", client="10.0.0.9")
        assert (info.value.status, info.value.code) == (429, "rate_limited")
    assert service.admit(token, action="test", client="10.0.0.9")[0].actor == "ai:lead-intake-1"
    assert service.admit(token, action="test", client="10.0.0.7")[0].actor == "ai:lead-intake-1"
    mono.now += 60  # the first guess leaves the 60 s window
    with pytest.raises(AccessError) as info:
        service.admit("crmgate.cred_000001.d", action="test", client="10.0.0.9")
    assert info.value.status == 401
    assert service.admit(token, action="test", client="10.0.0.9")[0].actor == "ai:lead-intake-1"


def test_a_nan_edit_is_refused_not_a_crash(client, token, admin, service):
    """Approving with an edit JSON cannot record (NaN) is 422 invalid_change, and writes nothing."""
    created = service.gate.propose({"object": "Opportunity", "op": "create", "actor": "ai:deal-intake",
                                    "fields": {"Name": "Initech", "StageName": "Proposal",
                                               "CloseDate": "2027-01-29"}})[0]
    [q] = client.post("/v1/proposals", headers=token("ai:deal-hygiene", "propose"), json={"proposals": [{
        "object": "Opportunity", "op": "update", "record_id": created.record_id, "confidence": 0.9,
        "fields": {"ForecastCategoryName": "Commit"}}]}).json()["outcomes"]
    assert q["status"] == "queued"
    head = service.gate.store.head()
    r = client.post(f"/v1/approvals/{q['change_id']}/approve", headers={**admin, "Content-Type": "application/json"},
                    content=b'{"edits": {"ForecastCategoryName": NaN}}')
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_change"
    assert service.gate.store.head() == head


def test_unrecordable_text_is_422_and_writes_nothing(client, agent, service):
    """A lone surrogate in a later proposal refuses the whole request before any round is written."""
    [o] = client.post("/v1/proposals", json={"proposals": [lead()]}, headers=agent).json()["outcomes"]
    before = _trail_and_crm(service)
    body = ('{"proposals": [{"object": "Lead", "op": "update", "record_id": "%s", "fields": {"Company": "A"}},'
            ' {"object": "Lead", "op": "update", "record_id": "%s", "fields": {"Company": "x\\udc00"}}]}'
            % (o["record_id"], o["record_id"]))
    r = client.post("/v1/proposals", content=body.encode(), headers={**agent, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_proposal"
    assert _trail_and_crm(service) == before


def test_every_kind_of_refusal_is_logged(client, agent, token):
    """A reused key (409), another actor's change (404) and a missing scope (403) each leave an
    access.refused line naming the credential, never its token."""
    [o] = client.post("/v1/proposals", json={"proposals": [{**lead(), "idempotency_key": "k9"}]},
                      headers=agent).json()["outcomes"]
    other = token("ai:lead-intake-2", "propose", "read")
    with capture_logs() as logs:
        client.post("/v1/proposals", json={"proposals": [{**lead(), "idempotency_key": "k9"}]}, headers=other)
        client.get(f"/v1/changes/{o['change_id']}", headers=other)
        client.get("/v1/approvals", headers=other)
    codes = [e["code"] for e in logs if e["event"] == "access.refused"]
    assert codes == ["idempotency_key_in_use", "not_own_change", "missing_scope"]
    assert other["Authorization"].split(".")[-1] not in repr(logs)


def test_tracebacks_in_the_server_log_show_no_locals(capsys):
    """The CLI's log renderer prints plain tracebacks: a token in a frame's locals never reaches the log."""
    import structlog

    from crmgate.doors.cli.base import configure_logging
    from tests.logkit import restored_logging

    with restored_logging():
        configure_logging()
        secret = "crmgate.cred_1.SECRETSECRETSECRET"  # noqa: F841 - a local the traceback must not show
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            structlog.get_logger("t").exception("api.unexpected")
    err = capsys.readouterr().err
    assert "RuntimeError: boom" in err and "SECRET" not in err
