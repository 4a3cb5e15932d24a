"""The MCP endpoint over streamable HTTP, driven by the SDK's own client: the API app in process,
and `crmgate serve` as a real process."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.mcp.conftest import (
    CRMGATE,
    LEAD_INTAKE_FIELDS,
    doc_blocks,
    http_client,
    mcp_http,
    new_lead,
    serving,
    text_of,
)

pytestmark = pytest.mark.anyio

OPPORTUNITY = "006000000000001AAA"  # the first sample Opportunity of `crmgate init` (Prospecting)
LEAD = "00Q000000000001EAA"  # the first sample Lead
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_tools_listed_are_those_of_the_requests_token(app, http_token, mode):
    """Over either protocol era, a lead-intake token lists the four tools with lead_intake's schema."""
    async with serving(app), mcp_http(app, http_token("ai:lead-intake-1", "propose", "read"), mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"propose_change", "check_change", "get_record", "get_change_status"}
    fields = tools["propose_change"].input_schema["properties"]["fields"]["properties"]
    assert set(fields) == LEAD_INTAKE_FIELDS


async def test_two_tokens_on_one_endpoint_each_see_their_own_actors_tools(app, http_token):
    """In one running app, the deal-hygiene token sees Opportunity with its confidence floor and risk
    rules, while the lead-intake token still sees only Lead."""
    async with serving(app), mcp_http(app, http_token("ai:deal-hygiene", "propose")) as hygiene, \
            mcp_http(app, http_token("ai:lead-intake-1", "propose")) as intake:
        deals = {t.name: t for t in (await hygiene.list_tools()).tools}
        lead = {t.name: t for t in (await intake.list_tools()).tools}["propose_change"]
    deal = deals["propose_change"]
    assert deal.input_schema["properties"]["object"]["enum"] == ["Opportunity"]
    assert deal.input_schema["properties"]["op"]["enum"] == ["update", "delete"]
    assert "ForecastCategoryName" in deal.input_schema["properties"]["fields"]["properties"]
    assert "Confidence floor 0.7" in deal.description
    assert "Changing ForecastCategoryName or OwnerId: high risk, held for a person's approval" in deal.description
    assert "Any delete: critical risk, blocked: only a person may make it." in deal.description
    assert ("Opportunity: when StageName is one of (Negotiation, Closed Won), these must be set too: "
            "Amount, NextStep.") in deal.description
    assert lead.input_schema["properties"]["object"]["enum"] == ["Lead"]
    assert "Opportunity" not in lead.description
    assert set(deals) == {"propose_change", "check_change"}  # `propose` only: no read tools


async def test_requests_without_a_live_token_get_401_with_the_api_error_body(app, http_token, http_service):
    """No token, an unknown one and a revoked one are each refused before the SDK sees the request."""
    revoked = http_token("ai:lead-intake-1", "propose")
    http_service.credentials.revoke(revoked.split(".")[1], by="admin:ana")
    async with serving(app):
        for tok, code in ((None, "missing_token"), ("crmgate.cred_x.nope", "invalid_token"),
                          (revoked, "revoked_token")):
            async with http_client(app, tok) as http:
                r = await http.post("/mcp", json=LIST)
            assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
            assert r.json()["error"]["code"] == code and r.json()["error"]["message"]


async def test_a_token_over_its_limit_gets_429_with_retry_after(app, http_token, mono):
    """With two requests a minute, the third HTTP request is 429 with Retry-After and spends nothing;
    once the window refills it is served again."""
    async with serving(app), http_client(app, http_token("ai:lead-intake-1", "propose", rate_limit=2)) as http:
        ok = [await http.post("/mcp", json=LIST) for _ in range(2)]
        over = await http.post("/mcp", json=LIST)
        mono.now += 60
        again = await http.post("/mcp", json=LIST)
    assert [r.headers["RateLimit-Remaining"] for r in ok] == ["1", "0"]
    assert over.status_code == 429 and over.headers["Retry-After"] == "60"
    assert over.json()["error"]["code"] == "rate_limited" and "headers" not in over.json()["error"]["details"]
    assert again.status_code != 429


async def test_tool_calls_act_as_the_requests_credential_and_nobody_else(app, http_token, http_service):
    """A proposal over HTTP is decided and written as the token's actor; naming another actor is a
    tool error, and another actor's change reads as not found."""
    async with serving(app), mcp_http(app, http_token("ai:lead-intake-1", "propose", "read")) as intake, \
            mcp_http(app, http_token("ai:deal-hygiene", "propose", "read")) as hygiene:
        applied = await intake.call_tool("propose_change", new_lead())
        posing = await intake.call_tool("propose_change", {**new_lead(), "actor": "ai:deal-hygiene"})
        foreign = await hygiene.call_tool("get_change_status", {"change_id": applied.structured_content["change_id"]})
    outcome = applied.structured_content
    assert outcome["status"] == "applied" and outcome["actor"] == "ai:lead-intake-1"
    decided = [e for e in http_service.gate.store.entries_for(change_id=outcome["change_id"])
               if e.kind == "proposal.decided"]
    assert [e.actor for e in decided] == ["ai:lead-intake-1"]
    assert posing.is_error and posing.structured_content["error"]["code"] == "actor_mismatch"
    assert foreign.is_error and foreign.structured_content["error"]["code"] == "not_found"


async def test_a_risky_change_is_held_for_a_person_and_the_agent_can_follow_it(app, http_token):
    """A forecast category change is HELD FOR A PERSON with its change id, and get_change_status
    says it waits for approval; the agent has no tool to approve it."""
    async with serving(app), mcp_http(app, http_token("ai:deal-hygiene", "propose", "read")) as client:
        held = await client.call_tool("propose_change", {
            "object": "Opportunity", "op": "update", "record_id": OPPORTUNITY, "confidence": 0.9,
            "fields": {"ForecastCategoryName": "Commit"}, "reasons": ["the buyer signed the order form"]})
        change_id = held.structured_content["change_id"]
        status = await client.call_tool("get_change_status", {"change_id": change_id})
        record = await client.call_tool("get_record", {"object": "Opportunity", "record_id": OPPORTUNITY})
        names = {t.name for t in (await client.list_tools()).tools}
    assert held.structured_content["status"] == "queued" and change_id
    assert text_of(held).startswith(f"HELD FOR A PERSON: the update of Opportunity {OPPORTUNITY} is not in the CRM")
    assert f"change_id: {change_id}" in text_of(held) and "Do not propose it again" in text_of(held)
    assert "held for a person's approval: not in the CRM yet" in text_of(status)
    assert record.structured_content["fields"]["ForecastCategoryName"] != "Commit"
    assert not any("approve" in n or "rollback" in n for n in names)


async def test_a_person_s_rejection_reaches_the_agent_with_its_reason(app, http_token, http_service):
    """After a person rejects the held change, get_change_status says who rejected it and why."""
    admin, _tok = http_service.credentials.create("admin:ana", ["approve", "read"], by="admin:root")
    async with serving(app), mcp_http(app, http_token("ai:deal-hygiene", "propose", "read")) as client:
        held = await client.call_tool("propose_change", {
            "object": "Opportunity", "op": "update", "record_id": OPPORTUNITY, "confidence": 0.9,
            "fields": {"ForecastCategoryName": "Commit"}})
        change_id = held.structured_content["change_id"]
        http_service.reject(admin, change_id, reason="no signed order form yet")
        status = await client.call_tool("get_change_status", {"change_id": change_id})
    assert status.structured_content["status"] == "rejected"
    assert "rejected: nothing was written." in text_of(status)
    assert "Rejected by admin:ana at " in text_of(status) and text_of(status).endswith(": no signed order form yet")


async def test_a_shadow_mode_actor_is_told_nothing_was_written(app, http_token):
    """The lead scorer runs in shadow mode: its Rating update is SHADOWED, with what enforce mode
    would have done, and the record is unchanged."""
    async with serving(app), mcp_http(app, http_token("ai:lead-scorer-7", "propose", "read")) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        before = (await client.call_tool("get_record", {"object": "Lead", "record_id": LEAD})).structured_content
        new = "Cold" if before["fields"].get("Rating") != "Cold" else "Warm"
        shadowed = await client.call_tool("propose_change", {"object": "Lead", "op": "update", "record_id": LEAD,
                                                             "fields": {"Rating": new}})
        after = (await client.call_tool("get_record", {"object": "Lead", "record_id": LEAD})).structured_content
    assert "mode shadow (a trial run)" in tools["propose_change"].description
    assert text_of(shadowed).startswith("SHADOWED: recorded, never written: use case lead_scoring")
    assert "In enforce mode it would have been applied." in text_of(shadowed)
    assert after["fields"] == before["fields"]


async def test_an_actor_without_a_use_case_is_told_it_may_change_nothing(app, http_token):
    """An AI actor the rulebook does not name sees that in the tool description, and a proposal is
    rejected with the advice not to retry."""
    async with serving(app), mcp_http(app, http_token("ai:stranger", "propose")) as client:
        [propose, _check] = (await client.list_tools()).tools
        result = await client.call_tool("propose_change", new_lead())
    assert "ai:stranger has no use case in the rulebook: it may not change any record" in propose.description
    assert "enum" not in propose.input_schema["properties"]["object"]
    assert result.structured_content["violations"][0]["code"] == "actor_not_allowed"
    assert "do not retry it as it is" in text_of(result)


async def test_a_crm_failure_is_reported_as_failed_or_as_a_tool_error_never_a_crash(app, http_token,
                                                                                   http_service):
    """A write the CRM refuses comes back FAILED with the CRM's code and what to do; a read the CRM
    cannot answer is a tool error saying to try later."""
    http_service.gate.adapter.inject_fault("create_many", code="UNABLE_TO_LOCK_ROW")
    http_service.gate.adapter.inject_fault("get_many", code="unavailable", status=503, whole_call=True)
    async with serving(app), mcp_http(app, http_token("ai:lead-intake-1", "propose", "read")) as client:
        failed = await client.call_tool("propose_change", new_lead())
        unread = await client.call_tool("get_record", {"object": "Lead", "record_id": LEAD})
    assert failed.structured_content["status"] == "failed" and not failed.is_error
    assert text_of(failed).startswith("FAILED: the CRM did not take the create of a new Lead; nothing was changed.")
    assert "The CRM said: UNABLE_TO_LOCK_ROW" in text_of(failed) and "new idempotency_key" in text_of(failed)
    assert unread.is_error and "The CRM failed or refused the request; try again later." in text_of(unread)


async def test_crmgate_serve_serves_mcp_over_tcp_as_documented(project, token):
    """the documented HTTP configuration end to end: `crmgate serve` on a free port, the SDK's client
    at the documented URL with the documented header, a proposal applied."""
    documented = json.loads(doc_blocks("json")[1])["mcpServers"]["crmgate"]
    assert documented["url"] == "http://127.0.0.1:8080/mcp" and documented["type"] == "http"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tok = token("ai:lead-intake-1", "propose", "read")
    proc = subprocess.Popen([CRMGATE, "--config", str(project / "crmgate.yaml"), "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={k: v for k, v in os.environ.items() if k != "CRMGATE_TRAIL_KEY"})
    try:
        seen = []
        for line in proc.stderr:  # uvicorn says when it listens; EOF means the process died
            seen.append(line)
            if "Uvicorn running on" in line:
                break
        else:
            pytest.fail(f"crmgate serve did not start: {''.join(seen)[-2000:]}")
        url = documented["url"].replace(":8080", f":{port}")
        headers = {k: v.replace("crmgate.cred_...", tok) for k, v in documented["headers"].items()}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http, \
                Client(streamable_http_client(url, http_client=http), read_timeout_seconds=30) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            result = await client.call_tool("propose_change", new_lead())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert "propose_change" in names
    assert result.structured_content["status"] == "applied"
