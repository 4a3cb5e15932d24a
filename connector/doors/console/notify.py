"""Webhooks: tell people that a change is waiting, and how it was resolved.

Events (:data:`EVENTS`) come from :class:`crmgate.doors.service.Service` (``queued``, ``approved``,
``rejected``, ``conflict``, ``rolled_back``) and from :meth:`Notifier.sweep` (``expired``: expiry is
judged at read time, so a sweep finds the changes that ran out). Each carries a link to the
change's page in the console.

Two payloads: ``slack`` (incoming-webhook JSON: ``text`` and a ``section`` block) and ``generic``
(a JSON body whose HMAC-SHA256, keyed by the secret in the environment variable ``secret_env``, is
sent as ``X-Crmgate-Signature: sha256=<hex>``; the receiver recomputes it over the raw body).

Delivery never blocks the write path: :meth:`Notifier.__call__` only puts the event on an
in-memory queue. One worker thread per webhook posts it, retrying connection errors, 429 and 5xx
with exponential backoff (tenacity; ``sleep`` is injected), so a receiver that is down delays only
its own queue. Every delivery and every failure is a row in ``crmgate_notifications`` (event,
change, webhook, status, attempts, last error) and a log line; the row's unique key also makes an
``expired`` event go out once, however many server processes sweep.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
import structlog
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from crmgate.clock import Clock, iso, utc_now
from crmgate.config import NotifySettings, Webhook
from crmgate.errors import ConfigError
from crmgate.trail.engine import schema_transaction

log = structlog.get_logger("crmgate.notify")

EVENTS = ("queued", "approved", "rejected", "expired", "conflict", "rolled_back")
SIGNATURE_HEADER = "X-Crmgate-Signature"

metadata = sa.MetaData()
notifications = sa.Table(
    "crmgate_notifications", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event", sa.String(20), nullable=False),
    sa.Column("change_id", sa.String(64), nullable=False),
    sa.Column("webhook", sa.String(300), nullable=False),  # "<index>:<host>": never the URL (Slack's is a secret)
    sa.Column("status", sa.String(12), nullable=False),  # sending | delivered | failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.UniqueConstraint("event", "change_id", "webhook", name="uq_crmgate_notifications"),
)

callbacks = sa.Table(
    "crmgate_callbacks", metadata,
    sa.Column("change_id", sa.String(64), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
)
#: the events that resolve a queued change: an agent's callback hears these
RESOLVED = ("approved", "rejected", "expired", "conflict", "rolled_back")

Post = Callable[..., Any]  # requests.post's shape: (url, data=, headers=, timeout=) -> .status_code


class DeliveryError(Exception):
    """One attempt failed in a way worth retrying (no connection, 429, 5xx)."""


class Refused(Exception):
    """The receiver answered with a status that retrying will not change (a 4xx but 429)."""


def sign(secret: str, body: bytes) -> str:
    """The ``X-Crmgate-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def change_link(console_url: str, change_id: str) -> str:
    return f"{console_url.rstrip('/')}/changes/{change_id}"


def slack_payload(kind: str, change: Mapping[str, Any], link: str) -> dict[str, Any]:
    what = f"{change.get('object') or '?'} {change.get('record_id') or '(new)'}"
    who = change.get("actor") or "?"
    line = {"queued": f"waits for approval: {what}, proposed by {who}",
            "approved": f"approved by {change.get('by')}: {what}",
            "rejected": f"rejected by {change.get('by')}: {what} ({change.get('note') or ''})",
            "conflict": f"approved by {change.get('by')} but the record had changed: {what}",
            "expired": f"expired without a decision: {what}, proposed by {who}",
            "rolled_back": f"rolled back by {change.get('by')}: {what}"}.get(kind, f"{kind}: {what}")
    rule = f" (rule {change['rule']}, tier {change.get('tier')})" if change.get("rule") else ""
    text = f"crmgate: change {change.get('change_id')} {line}{rule}. <{link}|Open in the console>"
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def generic_payload(kind: str, change: Mapping[str, Any], link: str, at: str) -> dict[str, Any]:
    return {"event": kind, "at": at, "url": link, "change": dict(change)}


@dataclass(frozen=True, slots=True)
class _Job:
    kind: str
    change: dict[str, Any]
    at: str
    url: str | None = None  # an agent's callback_url; None: the target's own URL


class _Target:
    """One webhook: its queue and its worker thread."""

    def __init__(self, index: int, hook: Webhook, secret: str | None) -> None:
        self.hook, self.secret = hook, secret
        self.name = f"{index}:{urlsplit(hook.url).hostname}"
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.thread: threading.Thread | None = None

    def wants(self, kind: str) -> bool:
        return self.hook.events is None or kind in self.hook.events


class Notifier:
    """The event sink the service calls; see the module docstring. ``start=False`` leaves the
    workers off so a test can :meth:`drain` the queues in its own thread."""

    def __init__(self, settings: NotifySettings, *, engine: sa.Engine, env: Mapping[str, str],
                 clock: Clock = utc_now, post: Post = requests.post, sleep: Callable[[float], None] = time.sleep,
                 expired: Callable[[], list[dict[str, Any]]] | None = None, sweep_s: float = 60.0,
                 start: bool = True) -> None:
        self.settings, self.engine, self.clock, self.post, self.sleep = settings, engine, clock, post, sleep
        self.expired = expired
        self.targets: list[_Target] = []
        for i, hook in enumerate(settings.webhooks):
            secret = None
            if hook.format == "generic":
                if not hook.secret_env or hook.secret_env not in env:
                    raise ConfigError(f"notify.webhooks.{i}: a generic webhook is signed; set secret_env to an "
                                      "environment variable holding the secret"
                                      + (f" ({hook.secret_env} is not set)" if hook.secret_env else ""),
                                      details={"webhook": i})
                secret = env[hook.secret_env]
            self.targets.append(_Target(i, hook, secret))
        self.callback: _Target | None = None
        if settings.callback_hosts:
            name = settings.callback_secret_env
            if not name or name not in env:
                raise ConfigError("notify.callback_secret_env: callbacks are signed; name an environment variable "
                                  "holding the secret" + (f" ({name} is not set)" if name else ""))
            self.callback = _Target(0, Webhook(url="http://callback.invalid", format="generic"), env[name])
            self.callback.name = "callback"
        with schema_transaction(engine) as conn:  # several workers may start at once
            metadata.create_all(conn, checkfirst=True)
        self._closed = False
        self._stop = threading.Event()
        if start:
            for t in self._all():
                t.thread = threading.Thread(target=self._work, args=(t,), name=f"crmgate-notify-{t.name}",
                                            daemon=True)
                t.thread.start()
            if expired is not None and self._all():
                threading.Thread(target=self._sweeping, args=(sweep_s,), name="crmgate-notify-sweep",
                                 daemon=True).start()

    # -- the sink -------------------------------------------------------------------------------
    def __call__(self, kind: str, change: Mapping[str, Any]) -> None:
        """Queue ``kind`` for every webhook that wants it, and for the change's callback when the event
        resolves it; returns at once (a callback's URL is stored, never sent to the webhooks)."""
        at = iso(self.clock())
        callback_url = change.get("callback_url")
        job = _Job(kind, {k: v for k, v in change.items() if v is not None and k != "callback_url"}, at)
        for t in self.targets:
            if t.wants(kind):
                t.jobs.put(job)
        if self.callback is None:
            return
        change_id = job.change.get("change_id")
        if kind == "queued" and callback_url and change_id:
            with self.engine.begin() as conn:
                conn.execute(callbacks.insert().values(change_id=change_id, url=callback_url, created_at=at))
        elif kind in RESOLVED and change_id:
            with self.engine.connect() as conn:
                url = conn.execute(sa.select(callbacks.c.url).where(callbacks.c.change_id == change_id)).scalar()
            if url:
                self.callback.jobs.put(_Job(kind, job.change, at, url))

    def _all(self) -> list[_Target]:
        return self.targets + ([self.callback] if self.callback is not None else [])

    def sweep(self) -> int:
        """Queue an ``expired`` event for each change that ran out (each goes out once); the count."""
        if self.expired is None:
            return 0
        found = self.expired()
        for change in found:
            self("expired", change)
        return len(found)

    # -- the workers ----------------------------------------------------------------------------
    def drain(self) -> None:
        """Deliver everything queued, in the calling thread (tests, and workers off)."""
        for t in self._all():
            while True:
                try:
                    job = t.jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    self._deliver(t, job)

    def close(self, timeout: float = 5.0) -> None:
        self._closed = True
        self._stop.set()
        for t in self._all():
            t.jobs.put(None)
        for t in self._all():
            if t.thread is not None:
                t.thread.join(timeout)

    def _sweeping(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - a store hiccup must not end the sweeps
                log.exception("notify.sweep_failed")

    def _work(self, t: _Target) -> None:
        while not self._closed:
            job = t.jobs.get()
            if job is None:
                return
            try:
                self._deliver(t, job)
            except Exception:  # noqa: BLE001 - the worker outlives any one bad delivery
                log.exception("notify.worker_error", webhook=t.name, kind=job.kind)

    def _deliver(self, t: _Target, job: _Job) -> None:
        change_id = str(job.change.get("change_id") or "-")
        url = job.url or t.hook.url
        name = f"callback:{urlsplit(url).hostname}" if job.url else t.name
        row_id = self._claim(name, job.kind, change_id)
        if row_id is None:
            return  # already sent (an expired event another process or sweep took)
        link = change_link(self.settings.console_url, change_id)
        if t.hook.format == "slack":
            payload = slack_payload(job.kind, job.change, link)
        else:
            payload = generic_payload(job.kind, job.change, link, job.at)
        body = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "crmgate-notify",
                   "X-Crmgate-Event": job.kind}
        if t.secret is not None:
            headers[SIGNATURE_HEADER] = sign(t.secret, body)
        attempts = 0

        def attempt() -> None:
            nonlocal attempts
            attempts += 1
            try:
                resp = self.post(url, data=body, headers=headers, timeout=t.hook.timeout_s)
            except requests.RequestException as exc:
                raise DeliveryError(f"{type(exc).__name__}: {exc}"[:500]) from exc
            code = int(resp.status_code)
            if code == 429 or code >= 500:
                raise DeliveryError(f"HTTP {code}")
            if code >= 300:
                raise Refused(f"HTTP {code}")

        retrying = Retrying(stop=stop_after_attempt(self.settings.retries + 1), sleep=self.sleep, reraise=True,
                            wait=wait_exponential(multiplier=1, min=1, max=60),
                            retry=retry_if_exception_type(DeliveryError))
        try:
            retrying(attempt)
        except (DeliveryError, Refused) as exc:
            self._finish(row_id, "failed", attempts, str(exc))
            log.warning("notify.failed", webhook=name, kind=job.kind, change_id=change_id,
                        attempts=attempts, error=str(exc))
            return
        self._finish(row_id, "delivered", attempts, None)
        log.info("notify.delivered", webhook=name, kind=job.kind, change_id=change_id, attempts=attempts)

    # -- the record -----------------------------------------------------------------------------
    def _claim(self, name: str, kind: str, change_id: str) -> int | None:
        now = iso(self.clock())
        try:
            with self.engine.begin() as conn:
                res = conn.execute(notifications.insert().values(
                    event=kind, change_id=change_id, webhook=name, status="sending", attempts=0,
                    created_at=now, updated_at=now))
                return int(res.inserted_primary_key[0])
        except sa.exc.IntegrityError:
            return None

    def _finish(self, row_id: int, status: str, attempts: int, error: str | None) -> None:
        n = notifications
        with self.engine.begin() as conn:
            conn.execute(sa.update(n).where(n.c.id == row_id).values(
                status=status, attempts=attempts, last_error=error, updated_at=iso(self.clock())))

    def deliveries(self) -> list[dict[str, Any]]:
        """Every recorded delivery, oldest first (the console and tests read them)."""
        n = notifications
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(n).order_by(n.c.id)).mappings()]
