"""The console over HTTP (starlette's TestClient): sign-in, sessions, CSRF, and each decision going
through the service, read back from the trail and the CRM."""
from __future__ import annotations

from crmgate.doors.console.session import COOKIE
from tests.console.conftest import Page, csrf_of, queue_opportunity_changes, sign_in


def _admin(token):
    return token("admin:ana", "approve", "rollback", "export", "read")


def _status(service, change_id: str) -> str:
    return service.gate.show_approval(change_id)["status"]


def test_sign_in_sets_a_strict_httponly_cookie_and_shows_the_queue(console_client, token):
    """A person's token signs in; the cookie is HttpOnly and SameSite=Strict; the queue lists the
    pending change with every column the issue names."""
    [q] = queue_opportunity_changes(console_client, token)
    r = sign_in(console_client, _admin(token))
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert token("ai:x", "read")["Authorization"].split()[1] not in cookie  # the token is encrypted
    page = Page(console_client.get("/queue").text)
    header, row = page.rows[0], page.rows[1]
    assert header[1:] == ["Object", "Record", "Fields", "Actor", "Use case", "Tier", "Rule", "Confidence", "Age",
                          "Expires in"]
    assert row[1:8] == ["Opportunity update", q["record_id"], "ForecastCategoryName", "ai:deal-hygiene",
                        "deal_hygiene", "high", "risk.rules[0]"]
    assert row[8] == "0.95" and row[10] == "3 d"


def test_without_a_session_every_page_sends_you_to_sign_in(console_client):
    """No cookie, or a forged one: redirected to /signin, nothing shown."""
    for path in ("/queue", "/changes/chg_1", "/trail", "/report", "/rollback", "/"):
        assert console_client.get(path).headers["location"] == "/signin"
    console_client.cookies.set(COOKIE, "gAAAAAforged")
    assert console_client.get("/queue").headers["location"] == "/signin"


def test_an_ai_token_cannot_sign_in(console_client, token):
    """ai: actors are refused at sign-in (403) and get no session cookie."""
    r = sign_in(console_client, token("ai:deal-hygiene", "propose", "read"))
    assert r.status_code == 403
    assert "ai_actor" in " ".join(Page(r.text).alerts)
    assert COOKIE not in r.cookies


def test_unknown_and_revoked_tokens_cannot_sign_in(console_client, token, service):
    """A wrong token is 401; a revoked one too."""
    assert sign_in(console_client, {"Authorization": "Bearer crmgate.cred_x.nope"}).status_code == 401
    headers = _admin(token)
    cred = service.credentials.authenticate(headers["Authorization"].split()[1])
    service.credentials.revoke(cred.id, by="admin:root")
    r = sign_in(console_client, headers)
    assert r.status_code == 401 and COOKIE not in r.cookies


def test_revoking_the_credential_ends_the_session_at_once(console_client, token, service):
    """Signed in, then revoked: the very next request is sent to sign-in, and nothing is decided."""
    [q] = queue_opportunity_changes(console_client, token)
    headers = _admin(token)
    sign_in(console_client, headers)
    csrf = csrf_of(console_client)
    service.credentials.revoke(service.credentials.authenticate(headers["Authorization"].split()[1]).id, by="admin:root")
    r = console_client.post(f"/changes/{q['change_id']}/approve", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/signin?why=revoked_token"
    assert _status(service, q["change_id"]) == "pending"


def test_sign_out_ends_the_session_even_for_a_copied_cookie(console_client, token):
    """After sign-out, the old cookie value (as if copied elsewhere) no longer opens a page."""
    sign_in(console_client, _admin(token))
    copied = console_client.cookies[COOKIE]
    r = console_client.post("/signout", data={"csrf_token": csrf_of(console_client)})
    assert r.headers["location"] == "/signin?why=signed_out"
    console_client.cookies.set(COOKIE, copied)
    assert console_client.get("/queue").headers["location"] == "/signin"


def test_the_session_expires(console_client, token, clock):
    """Eight hours after sign-in the cookie is refused."""
    sign_in(console_client, _admin(token))
    assert console_client.get("/queue").status_code == 200
    clock.advance(8 * 3600 + 1)
    assert console_client.get("/queue").headers["location"] == "/signin"


def test_a_post_without_the_csrf_token_is_refused_and_decides_nothing(console_client, token, service):
    """Signed in, a POST with no token or another session's token is 403 csrf_failed; the change stays pending."""
    [q] = queue_opportunity_changes(console_client, token)
    sign_in(console_client, _admin(token))
    head = service.gate.store.head()
    for data in ({}, {"csrf_token": "0" * 64}):
        r = console_client.post(f"/changes/{q['change_id']}/approve", data=data)
        assert r.status_code == 403 and "csrf_failed" in " ".join(Page(r.text).alerts)
    r = console_client.post("/queue/bulk", data={"change_id": q["change_id"], "action": "approve"})
    assert r.status_code == 403
    assert _status(service, q["change_id"]) == "pending" and service.gate.store.head() == head


def test_the_sign_in_form_needs_its_csrf_token(console_client, token):
    """A sign-in post without the form's token is refused (login CSRF)."""
    r = console_client.post("/signin", data={"token": _admin(token)["Authorization"].split()[1]})
    assert r.status_code == 403 and COOKIE not in r.cookies


def test_change_page_shows_the_diff_the_agents_case_and_the_history(console_client, token, service):
    """Before (when queued), now and proposed side by side; a field edited since is flagged; the
    agent's reasons and inputs, the rule and the trail history are on the page."""
    [q] = queue_opportunity_changes(console_client, token)
    service.gate.adapter.edit("Opportunity", q["record_id"], {"ForecastCategoryName": "Pipeline"}, actor="person:rep")
    sign_in(console_client, _admin(token))
    page = Page(console_client.get(f"/changes/{q['change_id']}").text)
    diff = next(r for r in page.rows if r and r[0] == "ForecastCategoryName")
    assert diff == ["ForecastCategoryName", "empty", "Pipeline changed since it was queued", "Commit"]
    text = page.all_text
    assert "the buyer signed the order form" in text and '"email_id": "em-0"' in text
    assert "risk.rules[0]" in text and "proposal.decided" in text
    assert {f["aria"] for f in page.forms} >= {"Approve as proposed", "Approve with edits", "Reject"}


def test_approve_writes_as_the_signed_in_person(console_client, token, service):
    """Approve: the CRM holds the value and the trail names the person as approver."""
    [q] = queue_opportunity_changes(console_client, token)
    sign_in(console_client, _admin(token))
    r = console_client.post(f"/changes/{q['change_id']}/approve",
                            data={"csrf_token": csrf_of(console_client), "note": "checked"})
    assert r.status_code == 200 and "approved and written" in Page(r.text).all_text
    assert service.gate.record("Opportunity", q["record_id"]).fields["ForecastCategoryName"] == "Commit"
    approved = [e for e in service.gate.store.entries_for(change_id=q["change_id"]) if e.kind == "approval.approved"]
    assert approved[0].actor == "admin:ana" and approved[0].data["note"] == "checked"


def test_approve_with_an_edit_writes_the_edited_value(console_client, token, service):
    """One input per field; the edited value is written and the trail keeps both values."""
    [q] = queue_opportunity_changes(console_client, token)
    sign_in(console_client, _admin(token))
    page = Page(console_client.get(f"/changes/{q['change_id']}").text)
    form = page.form("/edit")
    assert set(form["fields"]) == {"csrf_token", "field.ForecastCategoryName", "note"}
    r = console_client.post(f"/changes/{q['change_id']}/edit",
                            data={**form["fields"], "field.ForecastCategoryName": "Best Case"})
    assert r.status_code == 200
    assert service.gate.record("Opportunity", q["record_id"]).fields["ForecastCategoryName"] == "Best Case"
    approved = [e for e in service.gate.store.entries_for(change_id=q["change_id"]) if e.kind == "approval.approved"]
    assert approved[0].data["edits"] == {"ForecastCategoryName": {"proposed": "Commit", "approved": "Best Case"}}


def test_an_invalid_edit_is_shown_beside_its_field_and_writes_nothing(console_client, token, service):
    """A value outside the picklist: 422, the violation under the field, the change still pending."""
    [q] = queue_opportunity_changes(console_client, token, fields={"Amount": 5000})
    sign_in(console_client, _admin(token))
    head = service.gate.store.head()
    r = console_client.post(f"/changes/{q['change_id']}/edit",
                            data={"csrf_token": csrf_of(console_client), "field.Amount": "-5"})
    assert r.status_code == 422
    page = Page(r.text)
    assert any(i.get("id") == "edit-Amount" and i.get("aria-invalid") == "true" for i in page.inputs)
    assert _status(service, q["change_id"]) == "pending" and service.gate.store.head() == head


def test_reject_needs_a_reason_and_records_it(console_client, token, service):
    """No reason: refused, nothing written; with one: rejected, the reason in the trail, the CRM untouched."""
    [q] = queue_opportunity_changes(console_client, token)
    sign_in(console_client, _admin(token))
    csrf = csrf_of(console_client)
    assert console_client.post(f"/changes/{q['change_id']}/reject", data={"csrf_token": csrf}).status_code == 422
    r = console_client.post(f"/changes/{q['change_id']}/reject", data={"csrf_token": csrf, "reason": "not yet"})
    assert r.status_code == 200
    assert _status(service, q["change_id"]) == "rejected"
    assert service.gate.record("Opportunity", q["record_id"]).fields.get("ForecastCategoryName") is None
    rejected = [e for e in service.gate.store.entries_for(change_id=q["change_id"]) if e.kind == "approval.rejected"]
    assert rejected[0].data["reason"] == "not yet" and rejected[0].actor == "admin:ana"


def test_bulk_approve_rechecks_each_change(console_client, token, service):
    """Three selected, each re-checked on its own: a person's edit of another field (NextStep) does not
    stop the first; the one whose proposed field a person changed since is stale, nothing written."""
    qs = queue_opportunity_changes(console_client, token, 3)
    service.gate.adapter.edit("Opportunity", qs[0]["record_id"], {"NextStep": "call"}, actor="person:rep")
    service.gate.adapter.edit("Opportunity", qs[1]["record_id"], {"ForecastCategoryName": "Pipeline"},
                              actor="person:rep")
    sign_in(console_client, _admin(token))
    r = console_client.post("/queue/bulk", data={"csrf_token": csrf_of(console_client), "action": "approve",
                                                 "change_id": [q["change_id"] for q in qs]})
    results = {row[0]: row[1] for row in Page(r.text).rows if row and row[0].startswith("chg_")}
    assert results == {qs[0]["change_id"]: "applied", qs[1]["change_id"]: "stale", qs[2]["change_id"]: "applied"}
    assert [_status(service, q["change_id"]) for q in qs] == ["approved", "stale", "approved"]
    assert service.gate.record("Opportunity", qs[1]["record_id"]).fields["ForecastCategoryName"] == "Pipeline"


def test_a_credential_without_approve_sees_the_refusal_not_the_queue(console_client, token):
    """A read-only person signs in but the queue answers 403 missing_scope."""
    sign_in(console_client, token("person:auditor", "read"))
    r = console_client.get("/queue")
    assert r.status_code == 403 and "missing_scope" in " ".join(Page(r.text).alerts)


def test_expired_changes_are_listed_apart_and_can_be_rejected(console_client, token, service, clock):
    """Past its expiry a change leaves the pending list; the expired list shows it, and rejecting
    it closes it (approving it is refused by the service)."""
    [q] = queue_opportunity_changes(console_client, token)
    clock.advance(73 * 3600)
    sign_in(console_client, _admin(token))
    assert len(Page(console_client.get("/queue").text).rows) == 0
    rows = Page(console_client.get("/queue", params={"status": "expired"}).text).rows
    assert [r[2] for r in rows[1:]] == [q["record_id"]]
    csrf = csrf_of(console_client)
    r = console_client.post("/queue/bulk", data={"csrf_token": csrf, "action": "approve", "change_id": q["change_id"]})
    assert {row[0]: row[1] for row in Page(r.text).rows if row and row[0].startswith("chg_")} == {
        q["change_id"]: "refused"}
    console_client.post("/queue/bulk", data={"csrf_token": csrf, "action": "reject", "reason": "stale",
                                             "change_id": q["change_id"]})
    assert _status(service, q["change_id"]) == "rejected"
