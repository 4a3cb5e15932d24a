"""Fixtures for the MCP server: a `crmgate init` project, tokens, and the SDK's own clients, over
stdio (a real `crmgate mcp` process) and over streamable HTTP (the API app, in process)."""
from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from crmgate.config import load_config
from crmgate.doors.api import build_service, create_app
from crmgate.doors.mcp.server import streamable_http_app
from crmgate.doors.service import Service
from crmgate.project.scaffold import init_project
from tests.docblocks import fenced_blocks

CRMGATE = str(Path(sys.executable).with_name("crmgate"))
BASE_URL = "http://crmgate.test"
#: the fields the example rulebook's lead_intake use case may set
LEAD_INTAKE_FIELDS = {"LastName", "Company", "Email", "Country", "NumberOfEmployees", "Rating"}


def new_lead(**fields: Any) -> dict[str, Any]:
    """propose_change arguments for a valid Lead create, with ``fields`` overriding."""
    return {"object": "Lead", "op": "create",
            "fields": {"LastName": "Ng", "Company": "Initech", "Country": "US", **fields}}


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


class Monotonic:
    """Monotonic seconds that only move when told to (the request limiter's clock)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    init_project(tmp_path / "proj")
    return tmp_path / "proj"


@pytest.fixture
def config_path(project: Path) -> Path:
    return project / "crmgate.yaml"


@pytest.fixture
def service(config_path: Path) -> Iterator[Service]:
    """The project's service in this process, on the real clock (a `crmgate mcp` process shares its
    trail): for making tokens and reading what the server wrote."""
    svc = build_service(load_config(config_path), env={})
    yield svc
    svc.gate.close()


@pytest.fixture
def token(service: Service) -> Callable[..., str]:
    """``token(actor, *scopes, **kw) -> token`` for a new credential."""

    def make(actor: str, *scopes: str, **kw: Any) -> str:
        return service.credentials.create(actor, scopes, by="admin:root", **kw)[1]

    return make


class StdioServers:
    """Starts `crmgate mcp` processes for a project and connects the SDK's client to them; their
    stderr is kept in one file so a test can check what the server logged."""

    def __init__(self, config_path: Path, errlog: Path) -> None:
        self.config_path, self.errlog = config_path, errlog

    @asynccontextmanager
    async def connect(self, token: str, *, mode: str = "auto") -> AsyncIterator[Client]:
        params = StdioServerParameters(command=CRMGATE, args=["--config", str(self.config_path), "mcp"],
                                       env={"CRMGATE_TOKEN": token})
        with self.errlog.open("a", encoding="utf-8") as errlog:
            async with Client(stdio_client(params, errlog=errlog), mode=mode, read_timeout_seconds=60) as client:
                yield client

    def stderr(self) -> str:
        return self.errlog.read_text(encoding="utf-8") if self.errlog.exists() else ""


@pytest.fixture
def stdio(config_path: Path, tmp_path: Path) -> StdioServers:
    return StdioServers(config_path, tmp_path / "mcp-stderr.log")


# -- streamable HTTP, in process ------------------------------------------------------------------
@pytest.fixture
def mono() -> Monotonic:
    return Monotonic()


@pytest.fixture
def http_service(config_path: Path, clock, ids, mono: Monotonic) -> Iterator[Service]:
    """A service with a fixed clock, counting ids and a request limiter that only moves when told."""
    svc = build_service(load_config(config_path), env={}, clock=clock, ids=ids, monotonic=mono)
    yield svc
    svc.gate.close()


@pytest.fixture
def http_token(http_service: Service) -> Callable[..., str]:
    def make(actor: str, *scopes: str, **kw: Any) -> str:
        return http_service.credentials.create(actor, scopes, by="admin:root", **kw)[1]

    return make


@pytest.fixture
def app(http_service: Service):
    """The HTTP API app with the MCP endpoint, as `crmgate serve` builds it."""
    return create_app(http_service, mcp_app=streamable_http_app(http_service))


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[None]:
    """Run the app's lifespan, as a server does around the requests it serves."""
    async with app.router.lifespan_context(app):
        yield


def http_client(app: Any, token: str | None = None) -> httpx2.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE_URL, headers=headers)


@asynccontextmanager
async def mcp_http(app: Any, token: str, *, mode: str = "auto") -> AsyncIterator[Client]:
    """The SDK's client over streamable HTTP, sending ``token`` as its bearer token."""
    async with http_client(app, token) as http:
        async with Client(streamable_http_client(f"{BASE_URL}/mcp", http_client=http), mode=mode,
                          read_timeout_seconds=30) as client:
            yield client


# -- the MCP section of the HTTP and MCP page ---------------------------------------------------------
def doc_blocks(language: str) -> list[str]:
    """The fenced ``language`` blocks of the documented MCP section, in order."""
    return fenced_blocks("docs/http-mcp.md", language, "MCP: governed CRM access for an agent")
