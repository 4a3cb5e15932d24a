"""One log line per HTTP request: ``http.request`` with request id, actor, route, status and duration.

An ASGI middleware, outside the app's own, so refused, failed and unrouted requests are logged too.
The actor comes from the credential the request authenticated with (the app puts it in the
request state); the token itself is never read here. ``X-Request-ID`` is taken from the request
when it is a short, plain id, else generated; either way it is sent back and bound to every
other line logged while the request runs.
"""
from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("crmgate.http")
HEADER = b"x-request-id"
_PLAIN_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestLog:
    """Logs each HTTP request once it is answered (or has failed)."""

    def __init__(self, app: ASGIApp, *, request_ids: Callable[[], str] = new_request_id,
                 monotonic: Callable[[], float] = time.perf_counter) -> None:
        self.app, self.request_ids, self.monotonic = app, request_ids, monotonic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(HEADER, b"")
        request_id = given.decode("ascii") if _PLAIN_ID.match(given) else self.request_ids()
        status = 500  # unless the app answers: an exception escaping the app becomes a 500
        started = self.monotonic()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (HEADER, request_id.encode())]}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                log.info("http.request", request_id=request_id, **_fields(scope), status=status,
                         duration_ms=round((self.monotonic() - started) * 1000, 3))


def _fields(scope: Scope) -> dict[str, Any]:
    state = scope.get("state") or {}
    route = scope.get("route")
    return {"method": scope.get("method"), "route": getattr(route, "path", None) or scope.get("path"),
            "actor": state.get("actor"), "credential_id": state.get("credential_id")}
