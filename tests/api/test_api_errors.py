"""HTTP errors a person can act on: the field and what was expected in plain words, a hint to send
JSON, the line and column of bad JSON, and the scope checked before the body."""
from __future__ import annotations

import pytest


def error(r, status: int = 422) -> dict:
    assert r.status_code == status, r.text
    return r.json()["error"]


def test_validation_names_the_field_and_what_was_expected(client, agent):
    """A wrong type, an empty list and an unknown key each name their field in plain words."""
    err = error(client.post("/v1/proposals", headers=agent, json={"proposals": [
        {"object": 5, "op": "create", "fields": []}]}))
    assert err["message"].startswith("proposals[0].object: expected text (a JSON string), got 5")
    assert {"path": "proposals[0].fields", "message": "expected a JSON object ({...}), got an array"} \
        in err["details"]["problems"]
    err = error(client.post("/v1/proposals", headers=agent, json={"proposals": [], "x": 1}))
    assert {p["path"]: p["message"] for p in err["details"]["problems"]} == {
        "proposals": "expected at least 1 item, got 0", "x": "is not a field this request takes: remove it"}
    assert "Input should be" not in str(err)


@pytest.mark.parametrize("headers, said", [({}, "missing"), ({"Content-Type": "text/plain"}, "text/plain")])
def test_a_body_without_json_content_type_gets_a_hint(client, agent, headers, said):
    """A JSON body sent without Content-Type: application/json is told to send that header."""
    err = error(client.post("/v1/proposals", headers={**agent, **headers}, content=b'{"proposals": []}'))
    assert "Content-Type: application/json" in err["message"] and said in err["message"]


def test_bad_json_reports_line_and_column(client, agent):
    """A trailing comma on line 3 is reported at line 3, column 21."""
    body = b'{\n "proposals": [\n  {"object": "Lead",}\n ]\n}'
    err = error(client.post("/v1/proposals", headers={**agent, "Content-Type": "application/json"}, content=body))
    [problem] = err["details"]["problems"]
    assert (problem["line"], problem["column"]) == (3, 21) and "line 3, column 21" in err["message"]


@pytest.mark.parametrize("path", ["/v1/proposals", "/v1/proposals/check", "/v1/rollbacks", "/v1/exports",
                                  "/v1/approvals/chg_1/approve", "/v1/approvals/chg_1/reject",
                                  "/v1/approvals/chg_1/requeue"])
def test_scope_is_checked_before_the_body(client, token, path):
    """A read-only token posting a malformed body ([]) is refused 403 for its scope, not 422."""
    reader = token("ai:lead-intake-1", "read")
    assert error(client.post(path, headers=reader, json=[]), 403)["code"] == "missing_scope"
