"""A cap on request bodies: a runaway client cannot make the server hold an unbounded body."""
from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class MaxBodySize:
    """ASGI middleware: 413 ``body_too_large`` for a body over ``limit`` bytes, whether announced by
    Content-Length or streamed in chunks."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0
        too_big = False

        async def counted() -> Message:
            nonlocal seen, too_big
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    too_big = True  # the app sees a client that went away, and answers nobody
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if not too_big:
                await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not too_big:
                raise
        if too_big:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"error": {"code": "body_too_large",
                                     "message": f"the request body is over {self.limit} bytes"}}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
