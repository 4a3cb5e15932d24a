"""The console as an ASGI app: sign-in and sign-out, the pages, the vendored static files.

``crmgate serve`` mounts it at ``/`` beside the API (``/v1``) and MCP (``/mcp``); see
:func:`crmgate.doors.asgi.app_from_env`.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from crmgate.actors import is_ai
from crmgate.clock import iso
from crmgate.config import Config
from crmgate.doors.console import admin_views, csrf, queue_views
from crmgate.doors.console.core import Console, Refused, SignIn, first
from crmgate.doors.console.notify import Notifier
from crmgate.doors.console.session import COOKIE, console_secret
from crmgate.doors.credentials import AccessError
from crmgate.doors.service import Service

log = structlog.get_logger("crmgate.console")


def _cookie(response: Response, name: str, value: str, max_age: int | None, path: str) -> None:
    response.set_cookie(name, value, max_age=max_age, path=path or "/", httponly=True, samesite="strict",
                        secure=False)  # plain http on loopback; a TLS proxy in front adds Secure


def create_console(service: Service, *, secret: bytes, base_path: str = "", **kwargs: Any) -> Starlette:
    """The console over ``service``; ``secret`` keys the session cookie and the CSRF tokens."""
    console = Console(service, secret=secret, base_path=base_path, **kwargs)
    cookie_path = console.base or "/"

    def signin_form(request: Request, *, error: dict[str, Any] | None = None, status: int = 200) -> Response:
        nonce = request.cookies.get(csrf.NONCE_COOKIE) or secrets.token_urlsafe(16)
        response = console.render(request, "signin.html", None, status=status, error=error,
                                  csrf_token=csrf.token_for(console.csrf_key, f"signin:{nonce}"),
                                  reason=request.query_params.get("why"))
        _cookie(response, csrf.NONCE_COOKIE, nonce, 3600, cookie_path)
        return response

    async def signin(request: Request) -> Response:
        if request.method == "GET":
            return signin_form(request)
        form = await request.form()
        nonce = request.cookies.get(csrf.NONCE_COOKIE)
        if not csrf.valid(console.csrf_key, f"signin:{nonce}" if nonce else None, first(form, csrf.FIELD)):
            return signin_form(request, status=403, error={
                "code": "csrf_failed", "message": "the sign-in form expired; try again"})
        token = first(form, "token")
        try:
            cred, _ = await console.call(service.admit, token, action="console sign-in",
                                         client=request.client.host if request.client else None)
        except AccessError as exc:
            return signin_form(request, status=exc.status, error={"code": exc.code, "message": (
                "that token is not valid (unknown or revoked)" if exc.status == 401 else exc.message)})
        if is_ai(cred.actor):
            log.warning("access.refused", code="ai_actor", credential_id=cred.id, actor=cred.actor,
                        action="console sign-in")
            return signin_form(request, status=403, error={"code": "ai_actor", "message": (
                f"{cred.actor} is an AI actor: the console is for people (approvers, admins, auditors)")})
        cookie, _sid = await console.call(console.sessions.start, token or "", cred.id, cred.actor)
        log.info("console.signed_in", credential_id=cred.id, actor=cred.actor)
        response = console.redirect(request, "/queue" if cred.admin else "/trail")
        _cookie(response, COOKIE, cookie, int(console.sessions.max_age.total_seconds()), cookie_path)
        response.delete_cookie(csrf.NONCE_COOKIE, path=cookie_path)
        return response

    async def signout(request: Request) -> Response:
        form = await request.form()
        me = await console.viewer(request, form)
        await console.call(console.sessions.end, me.sid)
        log.info("console.signed_out", credential_id=me.cred.id, actor=me.actor)
        response = console.redirect(request, "/signin?why=signed_out")
        response.delete_cookie(COOKIE, path=cookie_path)
        return response

    async def home(request: Request) -> Response:
        me = await console.viewer(request)
        return console.redirect(request, "/queue" if me.can("approve") else "/trail")

    async def on_signin(request: Request, exc: Exception) -> Response:
        why = getattr(exc, "reason", None)
        response = console.redirect(request, "/signin" + (f"?why={why}" if why else ""))
        response.delete_cookie(COOKIE, path=cookie_path)
        return response

    async def on_refused(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status", 403)
        code = getattr(exc, "code", "refused")
        message = getattr(exc, "message", str(exc))
        return console.render(request, "error.html", None, status=status, error={"code": code, "message": message})

    async def not_found(request: Request, exc: Exception) -> Response:
        return HTMLResponse("<!doctype html><title>Not found</title><p>No such page. "
                            f"<a href='{console.base}/queue'>Back to the queue</a></p>", status_code=404)

    def page(fn: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            return await fn(console, request, **request.path_params)
        return endpoint

    def decision(action: str) -> Any:
        async def endpoint(request: Request) -> Response:
            return await queue_views.decide(console, request, request.path_params["change_id"], action)
        return endpoint

    routes = [
        Route("/", home),
        Route("/signin", signin, methods=["GET", "POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/queue", page(queue_views.queue_page)),
        Route("/queue/bulk", page(queue_views.bulk), methods=["POST"]),
        Route("/changes/{change_id}", page(queue_views.change_page)),
        Route("/changes/{change_id}/approve", decision("approve"), methods=["POST"]),
        Route("/changes/{change_id}/edit", decision("edit"), methods=["POST"]),
        Route("/changes/{change_id}/reject", decision("reject"), methods=["POST"]),
        *admin_views.routes(console, page),
        Mount("/static", StaticFiles(packages=[("crmgate.doors.console", "static")]), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={
        SignIn: on_signin, Refused: on_refused, AccessError: on_refused, 404: not_found})


def expired_since(service: Service, window: timedelta = timedelta(days=1)) -> Any:
    """The ``expired`` finder for :class:`Notifier`: changes that ran out within ``window``."""
    def find() -> list[dict[str, Any]]:
        floor = iso(service.gate.clock() - window)
        return [{k: q.get(k) for k in ("change_id", "proposal_id", "object", "op", "record_id", "actor",
                                       "use_case", "tier", "rule", "reason", "expires_at")}
                for q in (c.to_dict() for c in service.gate.approvals(status="expired")) if q["expires_at"] >= floor]
    return find


def console_from_config(service: Service, config: Config, env: Mapping[str, str] | None = None) -> Starlette:
    """The console for ``crmgate serve``; with ``notify.webhooks`` configured, the service's events
    go to a :class:`Notifier`."""
    env = os.environ if env is None else env
    service.callback_hosts = frozenset(config.notify.callback_hosts)
    if config.notify.webhooks or config.notify.callback_hosts:
        service.events = Notifier(config.notify, engine=service.gate.store.engine, env=env,
                                  clock=service.gate.clock, expired=expired_since(service))
    return create_console(service, secret=console_secret(config.base_dir, env))
