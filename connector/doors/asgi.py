"""The ASGI app that ``crmgate serve`` hands to uvicorn (``--factory``, so each worker builds its own).

It joins the HTTP API, the MCP endpoint and the console (with its webhooks) over one :class:`~crmgate.doors.service.Service`.
"""
from __future__ import annotations

import os
from typing import Any

from crmgate.config import load_config
from crmgate.doors.api.app import create_app
from crmgate.doors.console.app import console_from_config
from crmgate.doors.credentials import TOKEN_CACHE_SECONDS
from crmgate.doors.logs import FORMAT_ENV, configure_logging
from crmgate.doors.mcp.server import streamable_http_app
from crmgate.doors.wiring import CONFIG_ENV, build_service


def app_from_env(*, shared_quotas: bool = True) -> Any:
    """The ASGI app for the config named by ``$CRMGATE_CONFIG`` (uvicorn ``--factory``, several
    workers). ``shared_quotas=False`` (one worker serves everything): the request quotas are kept in
    this process, with no call to the store's budget per request."""
    if os.environ.get(FORMAT_ENV):  # a `crmgate serve` worker: log as the parent process was told to
        configure_logging()
    config = load_config(os.environ.get(CONFIG_ENV))
    # a checked token is trusted for TOKEN_CACHE_SECONDS: one credential read per second, not per request
    service = build_service(config, shared_quotas=shared_quotas, token_cache_seconds=TOKEN_CACHE_SECONDS)
    return create_app(service, mcp_app=streamable_http_app(service), console=console_from_config(service, config),
                      max_body_bytes=int(config.server.max_body_mb * 1024 * 1024))
