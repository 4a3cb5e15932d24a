"""Webhooks against a loopback receiver: one Slack-format and one signed generic delivery per
event, retries with backoff, a receiver that is down delaying nothing, and every delivery recorded."""
from __future__ import annotations

import hmac
import json
import socket
import threading
from hashlib import sha256
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crmgate.config import NotifySettings, Webhook
from crmgate.doors.console.app import expired_since
from crmgate.doors.console.notify import SIGNATURE_HEADER, Notifier
from crmgate.errors import ConfigError
from tests.console.conftest import queue_opportunity_changes

SECRET = "whsec-test"


class Receiver:
    """A tiny HTTP server on 127.0.0.1 that records each POST and answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.got: list[dict] = []
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *_a) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/down"


def _notifier(service, hooks, *, sleep=lambda _s: None, start=False, retries=3, **kw) -> Notifier:
    settings = NotifySettings(console_url="http://console.example:8080", webhooks=hooks, retries=retries)
    n = Notifier(settings, engine=service.gate.store.engine, env={"HOOK_SECRET": SECRET}, clock=service.gate.clock,
                 sleep=sleep, start=start, **kw)
    service.events = n
    return n


def test_a_queued_change_sends_one_slack_and_one_signed_generic_webhook(console_client, token, service, receiver):
    """Slack gets text with the change's console link; the generic body's HMAC-SHA256 matches the header."""
    n = _notifier(service, [Webhook(url=receiver.url + "/slack", format="slack"),
                            Webhook(url=receiver.url + "/hook", format="generic", secret_env="HOOK_SECRET")])
    [q] = queue_opportunity_changes(console_client, token)
    n.drain()
    by_path = {g["path"]: g for g in receiver.got}
    assert sorted(by_path) == ["/hook", "/slack"]
    link = f"http://console.example:8080/changes/{q['change_id']}"
    slack = json.loads(by_path["/slack"]["body"])
    assert f"<{link}|Open in the console>" in slack["text"] and "waits for approval" in slack["text"]
    assert slack["blocks"][0]["text"]["type"] == "mrkdwn"
    generic = by_path["/hook"]
    expected = "sha256=" + hmac.new(SECRET.encode(), generic["body"], sha256).hexdigest()
    assert generic["headers"][SIGNATURE_HEADER] == expected
    body = json.loads(generic["body"])
    assert body["event"] == "queued" and body["url"] == link
    assert body["change"]["change_id"] == q["change_id"] and body["change"]["tier"] == "high"
    assert [(d["event"], d["status"], d["attempts"]) for d in n.deliveries()] == [
        ("queued", "delivered", 1), ("queued", "delivered", 1)]


def test_approve_reject_and_rollback_are_announced(console_client, token, service, receiver):
    """approved, rejected and rolled_back events, each for its change, through the service."""
    n = _notifier(service, [Webhook(url=receiver.url, format="generic", secret_env="HOOK_SECRET")])
    a, b = queue_opportunity_changes(console_client, token, 2)
    admin = token("admin:ana", "approve", "rollback", "read")
    cred = service.credentials.authenticate(admin["Authorization"].split()[1])
    service.approve(cred, a["change_id"])
    service.reject(cred, b["change_id"], reason="no")
    service.rollback(cred, change=a["change_id"])
    n.drain()
    events = [(json.loads(g["body"])["event"], json.loads(g["body"])["change"]["change_id"]) for g in receiver.got]
    assert events == [("queued", a["change_id"]), ("queued", b["change_id"]), ("approved", a["change_id"]),
                      ("rejected", b["change_id"]), ("rolled_back", a["change_id"])]


def test_an_expired_change_is_announced_once(console_client, token, service, receiver, clock):
    """The sweep finds a change past its expiry; a second sweep sends nothing more."""
    n = _notifier(service, [Webhook(url=receiver.url, format="slack", events=["expired"])],
                  expired=expired_since(service))
    [q] = queue_opportunity_changes(console_client, token)
    clock.advance(73 * 3600)
    assert n.sweep() == 1
    n.drain()
    n.sweep()
    n.drain()
    assert len(receiver.got) == 1
    assert "expired without a decision" in json.loads(receiver.got[0]["body"])["text"]
    assert q["change_id"] in json.loads(receiver.got[0]["body"])["text"]


def test_a_failing_receiver_is_retried_with_backoff_and_the_failure_recorded(console_client, token, service):
    """A 503 is retried (sleeps 1, 2, 4 s through the injected sleep); after the last try the row says failed."""
    down = Receiver(status=503)
    slept: list[float] = []
    n = _notifier(service, [Webhook(url=down.url, format="slack")], sleep=slept.append)
    queue_opportunity_changes(console_client, token)
    n.drain()
    down.close()
    assert len(down.got) == 4 and slept == [1, 2, 4]
    [row] = n.deliveries()
    assert (row["status"], row["attempts"], row["last_error"]) == ("failed", 4, "HTTP 503")


def test_a_4xx_is_not_retried(console_client, token, service):
    """A receiver that refuses (404) is not asked again."""
    gone = Receiver(status=404)
    n = _notifier(service, [Webhook(url=gone.url, format="slack")])
    queue_opportunity_changes(console_client, token)
    n.drain()
    gone.close()
    assert len(gone.got) == 1 and n.deliveries()[0]["status"] == "failed"


def test_a_receiver_that_is_down_delays_nothing(console_client, token, service):
    """The worker thread is stuck in its backoff (a sleep that blocks until released), yet proposals
    return at once and the write path is unaffected; once released, the failure is recorded."""
    release, sleeping = threading.Event(), threading.Event()

    def blocking_sleep(_s: float) -> None:
        sleeping.set()
        assert release.wait(30)

    n = _notifier(service, [Webhook(url=_closed_port(), format="slack")], sleep=blocking_sleep, start=True, retries=1)
    try:
        first = queue_opportunity_changes(console_client, token)
        assert sleeping.wait(30)  # the delivery of the first event is now stuck in its retry wait
        more = queue_opportunity_changes(console_client, token, 2)  # not delayed by the stuck worker
        assert all(o["status"] == "queued" for o in first + more)
    finally:
        release.set()
        n.close()
    rows = n.deliveries()
    assert rows and rows[0]["status"] == "failed" and "ConnectionError" in rows[0]["last_error"]


def test_a_generic_webhook_needs_its_secret(service):
    """An unsigned generic webhook is a config error at startup, not a silent unsigned post."""
    with pytest.raises(ConfigError, match="secret_env"):
        Notifier(NotifySettings(webhooks=[Webhook(url="http://127.0.0.1:1/x", format="generic")]),
                 engine=service.gate.store.engine, env={}, start=False)


def test_a_failing_sink_never_fails_the_write(console_client, token, service):
    """An event sink that raises is logged; the proposal is still queued and answered."""
    def broken(kind, change):
        raise RuntimeError("boom")

    service.events = broken
    assert queue_opportunity_changes(console_client, token)[0]["status"] == "queued"
