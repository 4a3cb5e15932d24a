"""The proposals route's short way: the same answers as FastAPI's request handling, for less CPU.

``POST /v1/proposals`` is the request agents send most, one proposal at a time, so FastAPI's
general machinery weighs on each: solving the dependencies, three trips to the thread pool (the
credential, the endpoint, the response's validation) and its telemetry hooks. :class:`LeanRoute`
answers a request that is plainly well-formed (no query string, a JSON body, valid against the
route's body model) in ONE trip: admission, scope, the proposals and the response's validation and
serialisation, with the route's own body and response fields, so the bytes sent are the same.
Anything else (a query string, no body, a body that is not JSON or not valid, a content type
other than JSON) goes to FastAPI's handler untouched, which names the problem as it always has;
nothing was spent before that hand-over. Refusals (401, 403, 429, 422 from the service) are raised
as before and meet the same exception handlers. The OpenAPI document is built from the route as
declared, so it does not change.
"""
from __future__ import annotations

import asyncio
import contextvars
import email.message
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from fastapi.exceptions import ResponseValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

#: ``(request, parsed body model)`` -> ``(content, status, headers)``; run in the thread pool
Work = Callable[[Request, Any], tuple[Any, int, dict[str, str]]]
#: as many threads as anyio's default pool, which FastAPI's handler uses
THREADS = 40
_pool: ThreadPoolExecutor | None = None


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a thread, in this task's context (the request id the log lines carry).
    The event loop's executor call, not anyio's: its cancel scopes, capacity limiter and run
    variables cost as much CPU as the rest of the hop."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(THREADS, thread_name_prefix="crmgate-http")
    return await asyncio.get_running_loop().run_in_executor(_pool, contextvars.copy_context().run, fn, *args)


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, read as :class:`fastapi.security.HTTPBearer`
    (``auto_error=False``) reads it; None when there is none."""
    authorization = request.headers.get("authorization")
    if not authorization:
        return None
    scheme, _, param = authorization.partition(" ")
    token = param.strip()
    if not scheme or not token or scheme.lower() != "bearer":
        return None
    return token


def _json_content_type(value: str | None) -> bool:
    """Whether FastAPI would parse a body of this content type as JSON (``application/json`` or
    ``application/*+json``, parameters allowed)."""
    if not value:
        return False
    if value == "application/json":
        return True
    message = email.message.Message()
    message["content-type"] = value
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def lean_route(work: Work) -> type[APIRoute]:
    """An :class:`APIRoute` class whose requests go through ``work`` when they are plainly
    well-formed, and through FastAPI's handler otherwise (see the module docstring)."""

    class LeanRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            general = super().get_route_handler()
            body_field, response_field = self.body_field, self.response_field
            assert body_field is not None and response_field is not None

            def answer(request: Request, parsed: Any) -> Response | None:
                value, errors = body_field.validate(parsed, {}, loc=("body",))
                if errors:
                    return None  # FastAPI's handler checks the credential first, then names these
                content, status, headers = work(request, value)
                out, errors = response_field.validate(content, {}, loc=("response",))
                if errors:
                    raise ResponseValidationError(errors=errors, body=content)
                response = Response(response_field.serialize_json(out), status_code=status,
                                    media_type="application/json")
                response.headers.update(headers)
                return response

            async def handler(request: Request) -> Response:
                if not request.scope["query_string"] and _json_content_type(request.headers.get("content-type")):
                    raw = await request.body()  # kept on the request: the general handler reads it again
                    try:
                        parsed = orjson.loads(raw) if raw else None
                    except orjson.JSONDecodeError:  # stricter than json.loads: the general way decides
                        parsed = None
                    if isinstance(parsed, dict):
                        response = await in_thread(answer, request, parsed)
                        if response is not None:
                            return response
                return await general(request)

            return handler

    return LeanRoute

