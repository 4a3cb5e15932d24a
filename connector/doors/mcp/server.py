"""crmgate's MCP server, on the official ``mcp`` SDK's low-level :class:`mcp.server.Server`: the door
an admin hands an agent. The tools (:mod:`crmgate.doors.mcp.tools`) are listed and run as one
credential's actor; every rule about who may do what stays in :class:`crmgate.doors.service.Service`.

Two transports, the same tools:

* **stdio** (``crmgate mcp``): one token for the process. It is checked at start (missing, unknown,
  revoked or without ``propose``: one line on stderr, exit 2) and again at every tool call, which
  spends one request of the credential's limit, so a token revoked while the server runs stops
  working at its next call.
* **streamable HTTP** (``/mcp`` beside the HTTP API of ``crmgate serve``): stateless, JSON responses.
  Every HTTP request carries ``Authorization: Bearer <token>`` and is admitted like an API request
  (401 or 429 with the API's error body); the tools listed and run are that request's credential's.
  No session outlives a request, so no session can be borrowed by another token and several server
  processes can share the load.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio
import anyio.to_thread
import mcp_types as types
import structlog
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from crmgate.adapters.errors import CRMError
from crmgate.config import Config
from crmgate.doors.api.errors import refusal_response
from crmgate.doors.boundaries import with_fixes
from crmgate.doors.credentials import AccessError, Credential
from crmgate.doors.mcp import tools as mcp_tools
from crmgate.doors.service import Service
from crmgate.doors.wiring import build_service
from crmgate.errors import CrmgateError
from crmgate.trail import TrailStoreError

log = structlog.get_logger("crmgate.mcp")

MCP_PATH = "/mcp"
#: where the HTTP transport leaves the admitted credential in the request's ASGI scope
CREDENTIAL_KEY = "crmgate.credential"
INSTRUCTIONS = (
    "crmgate is the governed door to the CRM: every change you propose is checked against the rulebook, "
    "applied, held for a person's approval, or rejected with a fix for each problem, and recorded in an "
    "audit trail that people can roll back. Your boundaries are in propose_change's description; read "
    "it before proposing. You cannot approve or roll back changes: people do that.")

#: ``(request context, tool name or None when listing) -> the caller's credential``; raises AccessError
Caller = Callable[[ServerRequestContext[Any, Any], "str | None"], Credential]


def build_server(service: Service, caller: Caller) -> Server[Any]:
    """An MCP server whose tools are described for, and run as, whoever ``caller`` says is calling."""
    rulebook = service.gate.rulebook

    async def on_list_tools(ctx: ServerRequestContext[Any, Any],
                         _params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        try:
            cred = await anyio.to_thread.run_sync(caller, ctx, None)
        except AccessError as exc:
            raise MCPError(code=types.INVALID_REQUEST, message=f"{exc.code}: {exc.message}") from None
        # private and stale at once: the list depends on the caller and on its token staying valid
        return types.ListToolsResult(tools=mcp_tools.tools_for(rulebook, cred), ttl_ms=0, cache_scope="private")

    async def on_call_tool(ctx: ServerRequestContext[Any, Any],
                           params: types.CallToolRequestParams) -> types.CallToolResult:
        return await anyio.to_thread.run_sync(_run, ctx, params.name, params.arguments or {})

    def _run(ctx: ServerRequestContext[Any, Any], name: str, args: dict[str, Any]) -> types.CallToolResult:
        try:
            cred = caller(ctx, name)
        except AccessError as exc:
            return mcp_tools.refusal(exc)
        try:
            return call_tool(service, cred, name, args)
        except Exception as exc:  # a bug must reach the agent as a tool error, never as a traceback
            log.exception("mcp.unexpected", tool=name, actor=cred.actor, error=type(exc).__name__)
            return mcp_tools.tool_result(
                "Failed (internal_error): an unexpected error; it was logged. Try again later.",
                {"error": {"code": "internal_error", "message": "an unexpected error; it was logged"}}, error=True)

    return Server("crmgate", version=_version(), instructions=INSTRUCTIONS,
                  on_list_tools=on_list_tools, on_call_tool=on_call_tool)


def _version() -> str:
    try:
        return version("crmgate")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


# -- running a tool -------------------------------------------------------------------------------
class ToolError(CrmgateError):
    code = "invalid_arguments"


def call_tool(service: Service, cred: Credential, name: str, args: Mapping[str, Any]) -> types.CallToolResult:
    """Run tool ``name`` as ``cred``: the result in words and as data, or a refusal as a tool error."""
    try:
        return _call(service, cred, name, args)
    except (CrmgateError, CRMError, TrailStoreError) as exc:
        return mcp_tools.refusal(exc)


def _call(service: Service, cred: Credential, name: str, args: Mapping[str, Any]) -> types.CallToolResult:
    if name in (mcp_tools.PROPOSE, mcp_tools.CHECK):
        run = service.propose if name == mcp_tools.PROPOSE else service.check
        result = with_fixes(run(cred, [dict(args)])[0].to_dict(), service.gate.rulebook, cred.actor)
        return mcp_tools.tool_result(mcp_tools.outcome_text(result), result)
    if name == mcp_tools.GET_RECORD:
        given = _strings(args, ("object", "record_id"), required=True)
        record = service.record(cred, given["object"], given["record_id"]).to_dict()
        return mcp_tools.tool_result(mcp_tools.record_text(record), record)
    if name == mcp_tools.GET_STATUS:
        given = _strings(args, ("change_id", "proposal_id"), required=False)
        if len(given) != 1:
            raise ToolError("give exactly one of change_id and proposal_id")
        view = (service.change(cred, given["change_id"]) if "change_id" in given
                else service.proposal(cred, given["proposal_id"]))
        history = [{k: e[k] for k in ("seq", "ts", "kind", "actor")} for e in view["entries"]]
        compact = {**{k: v for k, v in view.items() if k != "entries"}, "history": history}
        return mcp_tools.tool_result(mcp_tools.status_text(view), compact)
    raise ToolError(f"there is no tool {name!r}; the tools are {', '.join(mcp_tools.TOOLS)}", code="unknown_tool")


def _strings(args: Mapping[str, Any], names: tuple[str, ...], *, required: bool) -> dict[str, str]:
    unknown = sorted(set(args) - set(names))
    if unknown:
        raise ToolError(f"unknown argument {unknown[0]!r}: this tool takes {' and '.join(names)}")
    out = {}
    for name in names:
        value = args.get(name)
        if value is None and not required:
            continue
        if not isinstance(value, str) or not value.strip():
            raise ToolError(f"{name} must be a non-empty string")
        out[name] = value
    return out


# -- stdio ----------------------------------------------------------------------------------------
def run_stdio(config: Config, *, token: str | None) -> None:
    """Serve MCP over stdin/stdout as ``token``'s actor until the client closes stdin.

    Raises :class:`AccessError` before serving when the token is missing, unknown, revoked or
    lacks ``propose`` (``crmgate mcp`` prints it as one line of JSON on stderr and exits 2).
    """
    service = build_service(config)
    try:
        cred = _starting_credential(service, token)
        log.info("mcp.start", transport="stdio", actor=cred.actor, credential_id=cred.id)
        anyio.run(_serve_stdio, build_server(service, partial(_token_caller, service, token)))
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C in a terminal
        pass
    finally:
        service.gate.close()


def _starting_credential(service: Service, token: str | None) -> Credential:
    if not token:
        raise AccessError("no token: set CRMGATE_TOKEN (or the variable --token-env names) to a token from "
                          "`crmgate tokens create --actor ai:... --scope propose --scope read`",
                          code="missing_token", status=401)
    cred = service.credentials.authenticate(token)
    if "propose" not in cred.scopes:
        raise AccessError(f"credential {cred.id} ({cred.actor}) lacks the 'propose' scope the MCP server "
                          "needs; create a token with --scope propose", code="missing_scope", status=403,
                          details={"needed": "propose", "held": sorted(cred.scopes)})
    return cred


def _token_caller(service: Service, token: str | None, _ctx: Any, tool: str | None) -> Credential:
    """The stdio caller: the process's token, checked again each time; a tool call spends a request."""
    if tool is None:
        return service.credentials.authenticate(token)
    cred, _admission = service.admit(token, action=f"mcp {tool}")
    return cred


async def _serve_stdio(server: Server[Any]) -> None:
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


# -- streamable HTTP ------------------------------------------------------------------------------
def streamable_http_app(service: Service) -> Starlette:
    """The MCP endpoint at ``/mcp``, every request admitted by its bearer token. Its lifespan runs the
    SDK's session manager: serve it as it is, or give its lifespan to the app it is added to."""
    server = build_server(service, _request_caller)
    manager = StreamableHTTPSessionManager(app=server, stateless=True, json_response=True)
    return Starlette(routes=[Route(MCP_PATH, endpoint=_Admitted(service, manager))],
                     lifespan=lambda _app: manager.run())


def _request_caller(ctx: ServerRequestContext[Any, Any], _tool: str | None) -> Credential:
    """The HTTP caller: the credential admitted for the HTTP request that carried this message."""
    cred = ctx.request.scope.get(CREDENTIAL_KEY) if ctx.request is not None else None
    if not isinstance(cred, Credential):  # only reachable if the endpoint is served without _Admitted
        raise AccessError("no credential: send `Authorization: Bearer <token>`", code="missing_token", status=401)
    return cred


class _Admitted:
    """ASGI: admit the request's bearer token (one request of its limit), then hand the request,
    with its credential, to the SDK; refuse it with the API's error body otherwise."""

    def __init__(self, service: Service, manager: StreamableHTTPSessionManager) -> None:
        self.service, self.manager = service, manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
        action = f"{scope.get('method')} {scope.get('path')}"[:200]
        try:
            cred, admission = await anyio.to_thread.run_sync(
                partial(self.service.admit, token.strip() if scheme.lower() == "bearer" else None, action=action,
                        client=(scope.get("client") or (None,))[0]))
        except AccessError as exc:
            await refusal_response(exc)(scope, receive, send)
            return
        limits = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in admission.headers().items()]

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *limits]}
            await send(message)

        await self.manager.handle_request({**scope, CREDENTIAL_KEY: cred}, receive, send_with_limits)


