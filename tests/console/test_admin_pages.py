"""Rollback, Trail and Report pages over HTTP: the plan before the write, verify, exports an
auditor can check offline, and the report's charts and CSV."""
from __future__ import annotations

import csv
import io
import zipfile

from crmgate.audit.verify_export import verify_export
from crmgate.trail import load_public_key
from tests.console.conftest import Page, csrf_of, queue_opportunity_changes, sign_in


def _admin(token):
    return token("admin:ana", "approve", "rollback", "export", "read")


def _approved(console_client, token, service, n: int = 2) -> list[dict]:
    qs = queue_opportunity_changes(console_client, token, n)
    for q in qs:
        service.gate.approve(q["change_id"], by="admin:bo")
    return qs


def test_rollback_shows_the_dry_run_plan_then_writes_only_on_confirm(console_client, token, service):
    """The plan names each field's action; nothing changes until the confirm form is posted."""
    qs = _approved(console_client, token, service)
    service.gate.adapter.edit("Opportunity", qs[1]["record_id"], {"ForecastCategoryName": "Omitted"},
                              actor="person:rep")
    sign_in(console_client, _admin(token))
    head = service.gate.store.head()
    r = console_client.post("/rollback/plan", data={"csrf_token": csrf_of(console_client), "kind": "actor",
                                                    "value": "ai:deal-hygiene"})
    page = Page(r.text)
    actions = {row[0]: row[4] for row in page.rows if row and row[0].startswith("chg_")}
    assert actions == {qs[0]["change_id"]: "revert", qs[1]["change_id"]: "conflict"}
    assert service.gate.store.head() == head  # a dry run writes nothing
    confirm = page.form("/rollback/run")["fields"]
    assert confirm["kind"] == "actor" and confirm["value"] == "ai:deal-hygiene"
    r = console_client.post("/rollback/run", data=confirm)
    assert r.status_code == 303 and r.headers["location"].startswith("/rollback/jobs/")
    r = console_client.get(r.headers["location"])
    done = {row[0]: row[2] for row in Page(r.text).rows if row and row[0].startswith("chg_")}
    assert done == {qs[0]["change_id"]: "reverted", qs[1]["change_id"]: "conflict"}
    assert service.gate.record("Opportunity", qs[0]["record_id"]).fields.get("ForecastCategoryName") is None
    assert service.gate.record("Opportunity", qs[1]["record_id"]).fields["ForecastCategoryName"] == "Omitted"


def test_the_rollback_summary_reads_as_one_sentence(console_client, token, service):
    """The plan's and the result's summary end their sentence without a stray space before the
    period or the comma ("nothing left to undo." and "nothing left to undo, 0 failed.")."""
    qs = _approved(console_client, token, service)
    service.gate.adapter.edit("Opportunity", qs[1]["record_id"], {"ForecastCategoryName": "Omitted"},
                              actor="person:rep")
    sign_in(console_client, _admin(token))
    r = console_client.post("/rollback/plan", data={"csrf_token": csrf_of(console_client), "kind": "actor",
                                                    "value": "ai:deal-hygiene"})
    page = Page(r.text)
    assert ("2 change(s) selected: 1 planned, 1 in conflict, 0 with nothing left to undo. "
            in page.all_text + " "), page.all_text
    r = console_client.post("/rollback/run", data=page.form("/rollback/run")["fields"])
    done = Page(console_client.get(r.headers["location"]).text).all_text
    assert ("2 change(s) selected: 1 reverted, 0 partial, 1 in conflict, 0 with nothing left to undo, "
            "0 failed. ") in done + " ", done


def test_a_confirmed_rollback_shows_its_progress_until_it_is_done(service, token, clock, ids):
    """While the rollback runs, its page shows a progress bar that polls itself; then the result."""
    from fastapi.testclient import TestClient

    from crmgate.doors.api import create_app
    from crmgate.doors.console.app import create_console
    from tests.console.conftest import SECRET

    waiting: list = []
    app = create_app(service, console=create_console(service, secret=SECRET, background=waiting.append))
    with TestClient(app, follow_redirects=False) as client:
        qs = _approved(client, token, service)
        sign_in(client, _admin(token))
        r = client.post("/rollback/run", data={"csrf_token": csrf_of(client), "kind": "actor",
                                               "value": "ai:deal-hygiene"})
        job = r.headers["location"]
        page = Page(client.get(job).text)
        assert "Rolling back… Reading the records and planning." in page.all_text
        assert 'hx-trigger="every 1s"' in client.get(job).text
        [run] = waiting
        run()
        done = Page(client.get(job).text)
        assert "Rolled back" in done.all_text and 'hx-trigger="every 1s"' not in client.get(job).text
        assert {row[0]: row[2] for row in done.rows if row and row[0].startswith("chg_")} == {
            q["change_id"]: "reverted" for q in qs}
        other = token("admin:bo", "rollback", "read")
        client.cookies.clear()
        sign_in(client, other)
        assert client.get(job).status_code == 404  # a job is seen only by the one who started it


def test_rollback_needs_the_rollback_scope(console_client, token, service):
    """An approver without `rollback` sees missing_scope; nothing is planned."""
    sign_in(console_client, token("admin:bo", "approve", "read"))
    r = console_client.post("/rollback/plan", data={"csrf_token": csrf_of(console_client), "kind": "actor",
                                                    "value": "ai:deal-hygiene"})
    assert r.status_code == 403 and "missing_scope" in " ".join(Page(r.text).alerts)


def test_trail_lists_filtered_entries_and_verifies(console_client, token, service):
    """Filter by actor; the verify button answers valid for an untouched trail."""
    _approved(console_client, token, service, 1)
    sign_in(console_client, _admin(token))
    page = Page(console_client.get("/trail", params={"actor": "admin:bo"}).text)
    kinds = [row[2] for row in page.rows[1:]]
    assert kinds == ["approval.approved"]
    r = console_client.post("/trail/verify", data={"csrf_token": csrf_of(console_client)},
                            headers={"HX-Request": "true"})
    assert r.status_code == 200 and Page(r.text).all_text.startswith("Valid: trail OK")
    whole = Page(console_client.post("/trail/verify", data={"csrf_token": csrf_of(console_client)}).text)
    assert "Valid: trail OK" in whole.all_text and whole.form("/trail/export")  # no JavaScript: the full page


def test_an_export_downloads_as_a_zip_that_verifies_offline(console_client, token, service, project, tmp_path):
    """The export form returns the zip with the chain and manifest; verify_export accepts it."""
    _approved(console_client, token, service, 1)
    sign_in(console_client, _admin(token))
    r = console_client.post("/trail/export", data={"csrf_token": csrf_of(console_client, "/trail"), "format": "csv"})
    assert r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert sorted(zf.namelist()) == ["trail.csv", "trail.csv.chain", "trail.csv.entries.jsonl",
                                       "trail.csv.manifest.json"]
        zf.extractall(tmp_path / "x")
    report = verify_export(tmp_path / "x" / "trail.csv", load_public_key(project / "trail.pub"))
    assert report.ok, report


def test_the_trail_is_for_auditors(console_client, token):
    """A credential without `export` cannot read or export the trail."""
    sign_in(console_client, token("admin:bo", "approve", "read"))
    assert console_client.get("/trail").status_code == 403
    r = console_client.post("/trail/export", data={"csrf_token": csrf_of(console_client), "format": "jsonl"})
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")


def test_report_draws_four_rate_charts_and_the_shadow_chart(console_client, token, service):
    """Acceptance, override, rollback and exception charts as SVG with a readable description; the
    shadow use case's would-haves beside enforced counts."""
    _approved(console_client, token, service, 1)
    scorer = token("ai:lead-scorer-2", "propose")
    lead = console_client.post("/v1/proposals", headers=token("ai:lead-intake-1", "propose"), json={"proposals": [
        {"object": "Lead", "op": "create", "fields": {"LastName": "Ng", "Company": "Initech"}}]}).json()
    console_client.post("/v1/proposals", headers=scorer, json={"proposals": [
        {"object": "Lead", "op": "update", "record_id": lead["outcomes"][0]["record_id"], "fields": {"Rating": "Hot"}}]})
    sign_in(console_client, _admin(token))
    html = console_client.get("/report").text
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg"') == 5
    page = Page(html)
    assert "Acceptance rate per hour" in page.all_text and "all: 2026-11-22 09:00 100%; deal_hygiene: 2026-11-22 09:00 100%" in page.all_text
    assert "lead_scoring: apply: would 1, enforced 0" in page.all_text
    rows = list(csv.reader(io.StringIO(console_client.get("/report.csv").text)))
    assert rows[0][:3] == ["group", "key", "proposals"]
    by_key = {(r[0], r[1]): dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert by_key[("use_case", "lead_scoring")]["shadowed"] == "1"
    assert by_key[("use_case", "deal_hygiene")]["approved"] == "1"
