"""The console in a real browser: Debian's Chromium driven by Playwright against `crmgate serve` on
loopback. Each journey saves a screenshot in its tmp folder (``CRMGATE_UPDATE_SCREENSHOTS=1`` also
refreshes docs/img); the accessibility checks run in the rendered pages."""
from __future__ import annotations

import io
import re
import subprocess
import zipfile
from pathlib import Path

import httpx
import pytest

from crmgate.audit.verify_export import verify_export
from crmgate.config import load_config
from crmgate.doors.wiring import open_service
from crmgate.project.scaffold import init_project
from crmgate.trail import load_public_key
from tests.console.browser import (
    CHROMIUM,
    CRMGATE,
    LOW_CONTRAST_JS,
    UNLABELLED_JS,
    Server,
    shoot,
    skip_reason,
    tab_reaches,
)

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")


def expect(locator):  # imported late: the module must load (and skip) without playwright
    from playwright.sync_api import expect as _expect

    return _expect(locator)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A fresh project served by `crmgate serve`; tokens for an admin and the two deal agents."""
    project = tmp_path_factory.mktemp("console") / "proj"
    init_project(project)
    with open_service(load_config(project / "crmgate.yaml"), env={}) as svc:
        tokens = {actor: svc.credentials.create(actor, scopes, by="admin:root")[1] for actor, scopes in (
            ("admin:ana", ["approve", "rollback", "export", "read"]), ("ai:deal-intake", ["propose"]),
            ("ai:deal-hygiene", ["propose", "read"]), ("ai:lead-intake-1", ["propose"]),
            ("ai:lead-scorer-2", ["propose"]))}
    server = Server(project)
    yield server, tokens, project
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


def _propose(live, actor: str, proposals: list[dict]) -> list[dict]:
    server, tokens, _ = live
    r = httpx.post(f"{server.base}/v1/proposals", json={"proposals": proposals},
                   headers={"Authorization": f"Bearer {tokens[actor]}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["outcomes"]


def queue(live, n: int = 1, fields: dict | None = None) -> list[dict]:
    made = _propose(live, "ai:deal-intake", [{"object": "Opportunity", "op": "create", "fields": {
        "Name": f"Nordwind expansion {i}", "StageName": "Proposal", "CloseDate": "2027-01-29"}} for i in range(n)])
    out = _propose(live, "ai:deal-hygiene", [{
        "object": "Opportunity", "op": "update", "record_id": m["record_id"], "confidence": 0.93,
        "fields": fields or {"ForecastCategoryName": "Commit"},
        "reasons": ["Buyer signed the order form on the call", "Procurement confirmed budget"],
        "inputs": {"call_id": f"call-{i}", "email_thread": "th-42"}} for i, m in enumerate(made)])
    assert [o["status"] for o in out] == ["queued"] * n
    return out


@pytest.fixture
def page(browser, live):
    server, tokens, _ = live
    context = browser.new_context(base_url=server.base, viewport={"width": 1360, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.goto("/signin")
    pg.get_by_label("Credential token").fill(tokens["admin:ana"])
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_url("**/queue")
    yield pg
    context.close()


def test_sign_in_and_the_queue(browser, live, tmp_path):
    """Sign in with the keyboard only; the queue shows the pending changes; labels and contrast hold."""
    server, tokens, _ = live
    queued = queue(live, 3)
    context = browser.new_context(base_url=server.base, viewport={"width": 1360, "height": 900})
    pg = context.new_page()
    pg.goto("/queue")
    assert pg.url.endswith("/signin")
    pg.keyboard.press("Tab")  # skip link
    pg.keyboard.press("Tab")
    pg.keyboard.type(tokens["admin:ana"])
    pg.keyboard.press("Enter")
    pg.wait_for_url("**/queue")
    for q in queued:
        assert pg.get_by_role("row").filter(has_text=q["record_id"]).count() == 1
    pg.get_by_label("Tier").select_option("high")  # htmx swaps the table in place and keeps the URL in step
    pg.wait_for_url("**/queue?*tier=high*")
    assert pg.get_by_role("row").filter(has_text=queued[0]["record_id"]).count() == 1
    assert pg.evaluate(UNLABELLED_JS) == []
    assert pg.evaluate(LOW_CONTRAST_JS) == []
    shoot(pg, tmp_path, "console-queue")
    context.close()


def test_an_ai_token_cannot_sign_in(browser, live):
    """The sign-in page refuses an ai: actor's token and stays on the form."""
    server, tokens, _ = live
    context = browser.new_context(base_url=server.base)
    pg = context.new_page()
    pg.goto("/signin")
    pg.get_by_label("Credential token").fill(tokens["ai:deal-hygiene"])
    pg.get_by_role("button", name="Sign in").click()
    expect(pg.get_by_role("alert")).to_contain_text("ai_actor")
    assert pg.goto("/queue").url.endswith("/signin")
    context.close()


def test_approve_a_change(page, live, tmp_path):
    """Open a change from the queue, read it, approve it; the CRM has the value."""
    [q] = queue(live)
    page.goto("/queue")
    page.get_by_role("row").filter(has_text=q["record_id"]).get_by_role("link").click()
    page.wait_for_url(f"**/changes/{q['change_id']}")
    assert "Buyer signed the order form" in page.inner_text("main")
    assert page.evaluate(UNLABELLED_JS) == [] and page.evaluate(LOW_CONTRAST_JS) == []
    shoot(page, tmp_path, "console-change")
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator(".alert.ok")).to_contain_text("approved and written")
    assert _record(live, q["record_id"])["ForecastCategoryName"] == "Commit"


def test_every_action_on_the_change_page_is_reachable_by_keyboard(page, live):
    """Tab reaches every field and button of the three decision forms, and Enter submits."""
    [q] = queue(live)
    page.goto(f"/changes/{q['change_id']}")
    reached = tab_reaches(page)
    assert {"approve-note", "edit-ForecastCategoryName", "edit-note", "reject-reason", "Approve",
            "Approve with these values", "Reject", "Sign out"} <= reached
    page.focus("#reject-reason")
    page.keyboard.type("duplicate of another deal")
    page.keyboard.press("Enter")
    expect(page.locator("h1 .badge")).to_have_text("rejected")


def test_approve_with_an_edit(page, live, tmp_path):
    """Change the proposed value in its own input, approve; the edited value is written."""
    [q] = queue(live)
    page.goto(f"/changes/{q['change_id']}")
    page.get_by_label("ForecastCategoryName").select_option("Best Case")
    page.get_by_role("button", name="Approve with these values").click()
    expect(page.locator(".alert.ok")).to_contain_text("approved and written")
    shoot(page, tmp_path, "console-approved-with-edit")
    assert _record(live, q["record_id"])["ForecastCategoryName"] == "Best Case"


def test_reject_with_a_reason(page, live, tmp_path):
    """Reject with a reason; the page shows the change rejected and the CRM is untouched."""
    [q] = queue(live)
    page.goto(f"/changes/{q['change_id']}")
    page.get_by_label("Reason (required)").fill("the customer has not signed yet")
    page.get_by_role("button", name="Reject", exact=True).click()
    expect(page.locator("h1 .badge")).to_have_text("rejected")
    shoot(page, tmp_path, "console-rejected")
    assert _record(live, q["record_id"]).get("ForecastCategoryName") is None


def test_bulk_approve_three(page, live, tmp_path):
    """Select three rows, approve them together; each is written."""
    qs = queue(live, 3)
    page.goto("/queue")
    for q in qs:
        page.get_by_label(f"Select change {q['change_id']}", exact=False).check()
    page.get_by_role("button", name="Approve selected").click()
    results = page.get_by_role("status", name="Results of the bulk decision")
    expect(results).to_be_visible()
    for q in qs:
        assert "applied" in results.get_by_role("row").filter(has_text=q["change_id"]).inner_text()
    shoot(page, tmp_path, "console-bulk")
    assert all(_record(live, q["record_id"])["ForecastCategoryName"] == "Commit" for q in qs)


def test_roll_back_an_actors_changes_after_the_dry_run(page, live, tmp_path):
    """Choose the actor, read the plan (nothing written yet), confirm; the values are reverted."""
    made = _propose(live, "ai:deal-intake", [{"object": "Opportunity", "op": "create", "fields": {
        "Name": f"Rollback {i}", "StageName": "Proposal", "CloseDate": "2027-01-29"}} for i in range(2)])
    qs = _propose(live, "ai:deal-hygiene", [{"object": "Opportunity", "op": "update", "record_id": m["record_id"],
                                             "confidence": 0.9, "fields": {"NextStep": "Send the contract"}}
                                            for m in made])
    assert [q["status"] for q in qs] == ["applied", "applied"]  # low risk: written at once
    page.goto("/rollback")
    page.get_by_label("Roll back", exact=True).select_option("actor")
    page.get_by_label("Change id, batch id, actor or use case").fill("ai:deal-hygiene")
    page.get_by_role("button", name="Show the dry-run plan").click()
    expect(page.locator("#h-plan")).to_contain_text("Dry-run plan")
    plan = page.locator("table.plan")
    for q in qs:
        assert "revert" in plan.get_by_role("row").filter(has_text=q["change_id"]).inner_text()
    assert _record(live, qs[0]["record_id"])["NextStep"] == "Send the contract"  # the plan wrote nothing
    shoot(page, tmp_path, "console-rollback-plan")
    page.get_by_role("button", name="Confirm: roll back").click()
    expect(page.locator("#h-plan")).to_have_text("Rolled back")
    assert all(_record(live, q["record_id"]).get("NextStep") is None for q in qs)


def test_verify_and_download_an_export(page, live, tmp_path):
    """The verify button answers Valid; the downloaded zip verifies offline with the public key."""
    _server, _tokens, project = live
    queue(live)
    page.goto("/trail")
    page.get_by_role("button", name="Verify the trail").click()
    expect(page.locator("#verify-result")).to_contain_text("Valid: trail OK")
    assert page.url.endswith("/trail")  # answered in place by htmx, not by a new page
    shoot(page, tmp_path, "console-trail", full_page=False)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download the export").click()
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as zf:
        zf.extractall(tmp_path / "export")
    report = verify_export(tmp_path / "export" / "trail.jsonl", load_public_key(project / "trail.pub"))
    assert report.ok, report


def test_view_the_report(page, live, tmp_path):
    """Four rate charts and the shadow chart (a shadow use case beside enforced ones) render; the CSV downloads."""
    queue(live)
    leads = _propose(live, "ai:lead-intake-1", [{"object": "Lead", "op": "create", "fields": {
        "LastName": f"Ibe {i}", "Company": "Kumo KK", "Country": "JP"}} for i in range(3)])
    _propose(live, "ai:lead-scorer-2", [{"object": "Lead", "op": "update", "record_id": lead["record_id"],
                                         "fields": {"Rating": "Hot"}, "confidence": 0.9} for lead in leads])
    page.goto("/report")
    assert page.locator("figure svg").count() == 5
    assert page.get_by_role("img", name=re.compile("Acceptance rate per (hour|day)")).count() == 1
    assert "lead_scoring: apply: would 3" in page.get_by_role("img", name=re.compile("Shadow")).text_content()
    assert page.evaluate(LOW_CONTRAST_JS) == []
    shoot(page, tmp_path, "console-report")
    with page.expect_download() as dl:
        page.get_by_role("link", name="Download CSV").click()
    assert Path(dl.value.path()).read_text().startswith("group,key,proposals")


def test_the_demos_queue_shows_in_the_browser(browser, tmp_path):
    """`crmgate demo --keep DIR`, a token, then `crmgate serve` in DIR: the demo's pending changes are listed."""
    demo = tmp_path / "demo"
    subprocess.run([CRMGATE, "demo", "--keep", str(demo)], check=True, capture_output=True, timeout=120)
    token = subprocess.run([CRMGATE, "tokens", "create", "--actor", "admin:me", "--scope", "approve", "--scope",
                            "read", "--token-only"], cwd=demo, check=True, capture_output=True, text=True,
                           timeout=60).stdout.strip()
    with open_service(load_config(demo / "crmgate.yaml"), env={}) as svc:
        pending = [q.change_id for q in svc.gate.approvals(status="pending")]
    assert pending
    server = Server(demo)
    try:
        context = browser.new_context(base_url=server.base, viewport={"width": 1360, "height": 800})
        pg = context.new_page()
        pg.goto("/")
        pg.get_by_label("Credential token").fill(token)
        pg.get_by_role("button", name="Sign in").click()
        pg.wait_for_url("**/queue")
        for change_id in pending:
            assert pg.get_by_label(f"Select change {change_id}", exact=False).count() == 1
        shoot(pg, tmp_path, "console-demo-queue")
        context.close()
    finally:
        server.stop()


def _record(live, record_id: str) -> dict:
    server, tokens, _ = live
    r = httpx.get(f"{server.base}/v1/records/Opportunity/{record_id}", timeout=30,
                  headers={"Authorization": f"Bearer {tokens['ai:deal-hygiene']}"})
    assert r.status_code == 200, r.text
    return r.json()["fields"]
