"""`crmgate mcp` as a real process, driven by the MCP SDK's own client over stdio."""
from __future__ import annotations

import json
import subprocess

import pytest
from mcp import Client, MCPError, StdioServerParameters

from crmgate.adapters.sandbox.adapter import SandboxAdapter
from tests.mcp.conftest import CRMGATE, LEAD_INTAKE_FIELDS, doc_blocks, new_lead, text_of

pytestmark = pytest.mark.anyio

TOOLS = {"propose_change", "check_change", "get_record", "get_change_status"}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_tools_show_the_actors_boundaries_from_the_rulebook(stdio, token, mode):
    """Over either protocol era, the schemas hold only lead_intake's object, operations and fields,
    with the rulebook's picklist values and lengths, and the description says the same in words."""
    async with stdio.connect(token("ai:lead-intake-1", "propose", "read"), mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    schema = tools["propose_change"].input_schema
    assert schema["properties"]["object"]["enum"] == ["Lead"]
    assert schema["properties"]["op"]["enum"] == ["create", "update"]
    assert schema["properties"]["use_case"]["enum"] == ["lead_intake"]
    fields = schema["properties"]["fields"]
    assert set(fields["properties"]) == LEAD_INTAKE_FIELDS and fields["additionalProperties"] is False
    assert {"type": "string", "enum": ["Hot", "Warm", "Cold"]} in fields["properties"]["Rating"]["anyOf"]
    assert {"type": "string", "maxLength": 2} in fields["properties"]["Country"]["anyOf"]
    assert tools["check_change"].input_schema == schema
    description = tools["propose_change"].description
    assert "ai:lead-intake-1" in description and "Use case lead_intake, mode enforce" in description
    assert "Rating (one of Hot, Warm, Cold)" in description and "Country (text; at most 2 characters)" in description
    assert "Opportunity" not in description and "OwnerId" not in json.dumps(schema)


async def test_an_allowed_change_is_applied_in_the_sandbox_and_recorded_in_the_trail(stdio, token, service,
                                                                                      project):
    """propose_change writes the Lead, says APPLIED with its id, and the trail holds the decision and
    the write as the token's actor; get_change_status and get_record then report the same."""
    async with stdio.connect(token("ai:lead-intake-1", "propose", "read")) as client:
        result = await client.call_tool("propose_change", {**new_lead(Rating="Hot"), "confidence": 0.9,
                                                           "reasons": ["the web form says so"]})
        outcome = result.structured_content
        status = await client.call_tool("get_change_status", {"change_id": outcome["change_id"]})
        record = await client.call_tool("get_record", {"object": "Lead", "record_id": outcome["record_id"]})
    assert not result.is_error and outcome["status"] == "applied" and outcome["actor"] == "ai:lead-intake-1"
    assert text_of(result).startswith(f"APPLIED: the create of Lead {outcome['record_id']} was written")
    with SandboxAdapter(project / "sandbox.db") as crm:
        stored = crm.get_many("Lead", [outcome["record_id"]])[outcome["record_id"]]
    assert stored.fields["Rating"] == "Hot" and stored.fields["Company"] == "Initech"
    entries = service.gate.store.entries_for(change_id=outcome["change_id"])
    assert {"proposal.decided", "write.result"} <= {e.kind for e in entries}
    assert {e.actor for e in entries if e.kind == "proposal.decided"} == {"ai:lead-intake-1"}
    assert status.structured_content["status"] == "applied" and "applied: the change is in the CRM" in text_of(status)
    assert record.structured_content["fields"]["Rating"] == "Hot"
    verify = subprocess.run([CRMGATE, "--config", str(project / "crmgate.yaml"), "trail", "verify"],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr


async def test_a_rejected_change_is_explained_violation_by_violation(stdio, token, service):
    """A too-long Country and an unknown Rating come back REJECTED with each problem and its fix; the
    trail records the decision and no write."""
    async with stdio.connect(token("ai:lead-intake-1", "propose", "read")) as client:
        result = await client.call_tool("propose_change", new_lead(Country="USA", Rating="Lukewarm"))
    text, outcome = text_of(result), result.structured_content
    assert not result.is_error and outcome["status"] == "rejected" and outcome["change_id"] is None
    assert text.startswith("REJECTED: nothing was written.")
    assert "Lead.Country: expected at most 2 characters; got 3 [too_long]" in text
    assert "Fix: Send Country (text; at most 2 characters) instead." in text
    assert "[invalid_picklist_value]" in text and "Fix: Send Rating (one of Hot, Warm, Cold) instead." in text
    assert "Apply every fix above, then propose again" in text
    assert [v["fix"] for v in outcome["violations"]] == ["Send Country (text; at most 2 characters) instead.",
                                                         "Send Rating (one of Hot, Warm, Cold) instead."]
    entries = service.gate.store.entries_for(proposal_id=outcome["proposal_id"])
    assert [e.kind for e in entries] == ["proposal.decided"]


async def test_a_field_or_object_outside_the_use_case_is_refused_with_what_is_allowed(stdio, token):
    """OwnerId is not lead_intake's: the fix names the fields it may set; an Opportunity is not its
    object at all: the text says not to retry."""
    async with stdio.connect(token("ai:lead-intake-1", "propose")) as client:
        field = await client.call_tool("propose_change", new_lead(OwnerId="005000000000001AAA"))
        obj = await client.call_tool("propose_change", {"object": "Opportunity", "op": "create",
                                                        "fields": {"Name": "Big deal"}})
    text = text_of(field)
    assert "use case 'lead_intake' may not set Lead.OwnerId [field_not_allowed]" in text
    assert ("Fix: Remove OwnerId: your use case may not change it. Fields you may set on Lead: Company, "
            "Country, Email, LastName, NumberOfEmployees, Rating.") in text
    assert "Apply every fix above" in text
    assert obj.structured_content["violations"][0]["code"] == "object_not_allowed"
    assert "Fix: Use an object you may change: Lead." in text_of(obj)
    assert "do not retry it as it is; a person must make such a change" in text_of(obj)


async def test_check_change_says_what_would_happen_and_writes_nothing(stdio, token, service):
    """check_change answers WOULD BE APPLIED for a valid Lead, and the trail stays as it was."""
    async with stdio.connect(token("ai:lead-intake-1", "propose")) as client:
        seq = service.gate.store.count()
        result = await client.call_tool("check_change", new_lead())
    assert not result.is_error and result.structured_content["dry_run"] is True
    assert text_of(result).startswith("CHECK ONLY, nothing was written. WOULD BE APPLIED: the create of a new Lead")
    assert service.gate.store.count() == seq


@pytest.mark.parametrize("case", ["no token", "unknown token", "revoked token", "no propose scope"])
def test_the_server_refuses_to_start_without_a_token_that_may_propose(service, config_path, case):
    """No token, an unknown or revoked one, or one without `propose`: one JSON line on stderr, exit 2,
    no traceback, nothing served."""
    cred, tok = service.credentials.create("ai:lead-intake-1", ["propose"] if case != "no propose scope"
                                           else ["read"], by="admin:root")
    if case == "revoked token":
        service.credentials.revoke(cred.id, by="admin:root")
    env_token = {"no token": "", "unknown token": f"crmgate.{cred.id}.not-its-secret"}.get(case, tok)
    done = subprocess.run([CRMGATE, "--config", str(config_path), "mcp"], input="", capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "CRMGATE_TOKEN": env_token})
    expected = {"no token": "missing_token", "unknown token": "invalid_token", "revoked token": "revoked_token",
                "no propose scope": "missing_scope"}[case]
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["error"]["code"] == expected
    assert "Traceback" not in done.stderr and tok.rsplit(".", 1)[1] not in done.stderr


async def test_a_token_revoked_while_serving_stops_working_at_its_next_call(stdio, token, service):
    """Revoking the token mid-session turns the next tool call into a tool error and the tool list
    into a protocol error; the process keeps answering."""
    tok = token("ai:lead-intake-1", "propose", "read")
    async with stdio.connect(tok) as client:
        assert not (await client.call_tool("check_change", new_lead())).is_error
        cred_id = tok.split(".")[1]
        service.credentials.revoke(cred_id, by="admin:ana")
        refused = await client.call_tool("propose_change", new_lead())
        with pytest.raises(MCPError, match="revoked_token"):
            await client.list_tools()
    assert refused.is_error and refused.structured_content["error"]["code"] == "revoked_token"
    assert text_of(refused).startswith(f"Refused (revoked_token): credential {cred_id} was revoked")
    assert [e.kind for e in service.gate.store.iter_entries()][-1] == "credential.revoked"  # nothing proposed


async def test_each_tool_call_spends_one_request_of_the_tokens_limit(stdio, token):
    """With a limit of two requests a minute, the third tool call is refused with the wait; listing
    tools spends nothing."""
    async with stdio.connect(token("ai:lead-intake-1", "propose", rate_limit=2)) as client:
        await client.list_tools()
        await client.list_tools()
        first = await client.call_tool("check_change", new_lead())
        second = await client.call_tool("check_change", new_lead())
        third = await client.call_tool("check_change", new_lead())
    assert not first.is_error and not second.is_error
    assert third.is_error and third.structured_content["error"]["code"] == "rate_limited"
    assert "over its limit of 2 requests" in text_of(third) and "retry in" in text_of(third)


async def test_an_admin_token_gets_no_approve_rollback_or_export_tool(stdio, token):
    """Even a person holding every scope is offered only the four agent tools, and calling an
    approve tool by name is a tool error, not an approval."""
    async with stdio.connect(token("admin:ana", "propose", "read", "approve", "rollback", "export")) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        approve = await client.call_tool("approve_change", {"change_id": "chg_1"})
    assert names == TOOLS
    assert approve.is_error and approve.structured_content["error"]["code"] == "unknown_tool"


async def test_malformed_arguments_and_impersonation_are_tool_errors_not_crashes(stdio, token):
    """A record_id on a create, a proposal naming another actor and a status call with no id each
    come back as a tool error with the reason, and the server goes on serving."""
    async with stdio.connect(token("ai:lead-intake-1", "propose", "read")) as client:
        malformed = await client.call_tool("propose_change", {**new_lead(), "record_id": "00Q000000000001EAA"})
        other = await client.call_tool("propose_change", {**new_lead(), "actor": "ai:deal-hygiene"})
        no_id = await client.call_tool("get_change_status", {})
        after = await client.call_tool("check_change", new_lead())
    assert malformed.is_error and "record_id must not be given for op 'create'" in text_of(malformed)
    assert other.is_error and other.structured_content["error"]["code"] == "actor_mismatch"
    assert "Leave actor out" in text_of(other)
    assert no_id.is_error and "give exactly one of change_id and proposal_id" in text_of(no_id)
    assert not after.is_error
    assert "Traceback" not in stdio.stderr()


async def test_the_documented_stdio_configuration_gives_the_documented_rejection(token, config_path):
    """the documented client configuration, with its paths and token filled in, starts a server that
    answers the documented example with the documented text."""
    config = json.loads(doc_blocks("json")[0])["mcpServers"]["crmgate"]
    assert config["args"] == ["--config", "/path/crmgate.yaml", "mcp"]
    params = StdioServerParameters(
        command=CRMGATE, args=[str(config_path) if a == "/path/crmgate.yaml" else a for a in config["args"]],
        env={**config["env"], "CRMGATE_TOKEN": token("ai:lead-intake-1", "propose", "read")})
    async with Client(params, read_timeout_seconds=60) as client:
        result = await client.call_tool("propose_change", new_lead(Country="USA", Rating="Lukewarm"))
    proposal_id = result.structured_content["proposal_id"]
    assert text_of(result) == doc_blocks("text")[0].strip().replace("prp_...", proposal_id)
