"""What every console page shares: who is signed in, CSRF, rendering, and calling the service.

:meth:`Console.viewer` runs on every request: the session cookie is resumed
(:mod:`crmgate.doors.console.session`), its token is admitted by :meth:`Service.admit` (unknown,
revoked or rate-limited credentials are refused as the API refuses them), and ``ai:`` actors are
turned away. A POST must carry the session's CSRF token (:mod:`crmgate.doors.console.csrf`).
Pages call :class:`~crmgate.doors.service.Service` only, so the scopes and separation of duties are
the API's; a refusal is shown on the page with its code, never as a traceback.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import structlog
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from crmgate.actors import is_ai
from crmgate.clock import Clock
from crmgate.doors.console import csrf
from crmgate.doors.console.session import COOKIE, Sessions, derive
from crmgate.doors.credentials import AccessError, Credential
from crmgate.doors.service import Service
from crmgate.errors import CrmgateError

log = structlog.get_logger("crmgate.console")
T = TypeVar("T")


class SignIn(Exception):
    """No live session: answer with the sign-in page (a redirect, or HX-Redirect for htmx)."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or "")
        self.reason = reason


class Refused(Exception):
    """A request the console refuses before calling the service (bad CSRF token: 403)."""

    def __init__(self, message: str, *, code: str, status: int = 403) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


@dataclass(frozen=True, slots=True)
class Viewer:
    cred: Credential
    sid: str
    csrf: str

    @property
    def actor(self) -> str:
        return self.cred.actor

    def can(self, scope: str) -> bool:
        return scope in self.cred.scopes


def ago(moment: str | None, now: datetime) -> str:
    """``3 h``, ``2 d``: the distance between ``moment`` and now, rounded for a table cell."""
    if not moment:
        return ""
    try:
        then = datetime.fromisoformat(moment)
    except ValueError:
        return moment
    secs = abs((now - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if secs >= size:
            return f"{int(secs // size)} {unit}"
    return f"{int(secs)} s"


class Console:
    """The console's state: the service, the sessions, the templates and the CSRF key."""

    def __init__(self, service: Service, *, secret: bytes, clock: Clock | None = None,
                 sessions: Sessions | None = None, base_path: str = "",
                 background: Callable[[Callable[[], None]], None] | None = None) -> None:
        self.service = service
        #: runs a long job (a confirmed rollback) off the request; tests pass a synchronous one
        self.background = background or (lambda fn: threading.Thread(target=fn, daemon=True).start())
        self.jobs: dict[str, dict[str, Any]] = {}
        self.clock = clock or service.gate.clock
        self.sessions = sessions or Sessions(service.gate.store.engine, secret, clock=self.clock)
        self.csrf_key = derive(secret, "crmgate-console-csrf")
        self.base = base_path.rstrip("/")
        self.env = Environment(loader=PackageLoader("crmgate.doors.console", "templates"),
                               autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
        self.env.globals.update(base=self.base, ago=lambda m: ago(m, self.clock()), csrf_field=csrf.FIELD)

    # -- who is asking --------------------------------------------------------------------------
    async def viewer(self, request: Request, form: FormData | None = None) -> Viewer:
        """The signed-in person; :class:`SignIn` when there is none, :class:`Refused` for a POST
        without this session's CSRF token. Checked once per request (a page rendered after a POST reuses it)."""
        cached = getattr(request.state, "viewer", None)
        if cached is not None:
            return cached
        got = await run_in_threadpool(self.sessions.resume, request.cookies.get(COOKIE))
        if got is None:
            raise SignIn()
        sid, token = got
        try:
            cred, _ = await run_in_threadpool(
                self.service.admit, token, action=f"console {request.method} {request.url.path}"[:200],
                client=request.client.host if request.client else None)
        except AccessError as exc:
            if exc.status == 401:  # revoked: the session ends with the credential
                await run_in_threadpool(self.sessions.end, sid)
                raise SignIn(exc.code) from None
            raise
        if is_ai(cred.actor):  # a credential row edited by hand: still no AI in the console
            raise SignIn("ai_actor")
        viewer = Viewer(cred, sid, csrf.token_for(self.csrf_key, f"session:{sid}"))
        if request.method == "POST":
            sent = (form.get(csrf.FIELD) if form is not None else None) or request.headers.get(csrf.HEADER)
            if not csrf.valid(self.csrf_key, f"session:{sid}", str(sent) if sent else None):
                log.warning("access.refused", code="csrf_failed", credential_id=cred.id, actor=cred.actor,
                            path=request.url.path)
                raise Refused("this form is stale or was not sent by the console (CSRF token missing or "
                              "wrong); reload the page and try again", code="csrf_failed")
        request.state.viewer = viewer
        return viewer

    # -- answering ------------------------------------------------------------------------------
    def render(self, request: Request, template: str, viewer: Viewer | None, status: int = 200,
               **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(request=request, me=viewer, now=self.clock(), **context)
        return HTMLResponse(html, status_code=status, headers={
            "Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
            "Content-Security-Policy": "default-src 'self'; style-src 'self'; img-src 'self' data:; "
                                       "frame-ancestors 'none'; form-action 'self'"})

    def redirect(self, request: Request, path: str) -> Response:
        url = self.base + path
        if request.headers.get("HX-Request"):
            return Response(status_code=204, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)

    def url(self, path: str, **query: Any) -> str:
        q = "&".join(f"{k}={quote(str(v))}" for k, v in query.items() if v not in (None, ""))
        return self.base + path + (f"?{q}" if q else "")

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking service call off the event loop."""
        return await run_in_threadpool(fn, *args, **kwargs)

    async def attempt(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T | None, dict[str, Any] | None]:
        """``(result, None)``, or ``(None, error)`` for a refusal the page shows (code, message, details)."""
        try:
            return await self.call(fn, *args, **kwargs), None
        except CrmgateError as exc:
            return None, {"code": exc.code, "message": exc.message, "details": exc.details}


def first(form: Mapping[str, Any] | FormData, name: str) -> str | None:
    value = form.get(name)
    value = str(value).strip() if value is not None else ""
    return value or None
