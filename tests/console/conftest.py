"""Fixtures for the console: the API's project, service and tokens, the console mounted at /, and
a page parser (tests read the page's forms and tables, not its strings)."""
from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crmgate.doors.api import create_app
from crmgate.doors.console.app import create_console
from tests.api.conftest import keypair, mono, project, service, token  # noqa: F401 - shared fixtures

SECRET = b"console-test-secret"


class Page(HTMLParser):
    """The parts of a console page the tests look at: forms with their inputs, table cells, alerts, text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.inputs: list[dict[str, str]] = []
        self.labels: dict[str, str] = {}
        self.rows: list[list[str]] = []
        self.alerts: list[str] = []
        self.text: list[str] = []
        self._label_for: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._alert = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"), "fields": {},
                               "aria": a.get("aria-label", "")})
        if tag in ("input", "select", "textarea", "button"):
            self.inputs.append({"tag": tag, **a})
            if self.forms and a.get("name") and tag != "button":
                self.forms[-1]["fields"].setdefault(a["name"], a.get("value", ""))
        if tag == "label":
            self._label_for = a.get("for")
            self.labels.setdefault(self._label_for or "", "")
        if tag == "tr":
            self._row = []
        if tag in ("td", "th") and self._row is not None:
            self._cell = []
        if a.get("role") == "alert" or self._alert:
            self._alert += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._label_for = None
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._label_for is not None:
            self.labels[self._label_for] += data.strip()
        if self._cell is not None:
            self._cell.append(data)
        if self._alert:
            self.alerts.append(data.strip())

    def form(self, action_end: str) -> dict[str, Any]:
        return next(f for f in self.forms if f["action"].endswith(action_end))

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


@pytest.fixture
def console_client(service):  # noqa: F811 - the API's fixture
    # confirmed rollbacks run at once, in the request, so a test reads their result without waiting
    app = create_app(service, console=create_console(service, secret=SECRET, background=lambda fn: fn()))
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as c:
        yield c


def sign_in(client: TestClient, headers: dict[str, str]) -> Any:
    """Sign in with the bearer token in ``headers``; the response of the POST."""
    page = Page(client.get("/signin").text)
    form = page.form("/signin")
    return client.post("/signin", data={**form["fields"], "token": headers["Authorization"].removeprefix("Bearer ")})


def csrf_of(client: TestClient, path: str = "/queue") -> str:
    return Page(client.get(path).text).form("/signout")["fields"]["csrf_token"]


def queue_opportunity_changes(client: TestClient, token: Any, n: int = 1, *,  # noqa: F811
                              fields: dict[str, Any] | None = None, confidence: float = 0.95) -> list[dict[str, Any]]:
    """``n`` new Opportunities (by ai:deal-intake), each with one change ai:deal-hygiene queued for a
    person (ForecastCategoryName is a high-risk field); the queued outcomes."""
    intake, hygiene = token("ai:deal-intake", "propose"), token("ai:deal-hygiene", "propose", "read")
    made = client.post("/v1/proposals", headers=intake, json={"proposals": [
        {"object": "Opportunity", "op": "create",
         "fields": {"Name": f"Deal {i}", "StageName": "Proposal", "CloseDate": "2027-01-29"}}
        for i in range(n)]}).json()["outcomes"]
    out = client.post("/v1/proposals", headers=hygiene, json={"proposals": [
        {"object": "Opportunity", "op": "update", "record_id": m["record_id"], "confidence": confidence,
         "fields": fields or {"ForecastCategoryName": "Commit"},
         "reasons": ["the buyer signed the order form"], "inputs": {"email_id": f"em-{i}"}}
        for i, m in enumerate(made)]}).json()["outcomes"]
    assert [o["status"] for o in out] == ["queued"] * n
    return out
