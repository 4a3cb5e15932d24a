"""An agent's callback_url hears how its queued change was resolved: signed, allowed hosts only."""
from __future__ import annotations

import hmac
import json
from hashlib import sha256

import pytest

from crmgate.config import NotifySettings
from crmgate.doors.console.notify import SIGNATURE_HEADER, Notifier
from crmgate.errors import ConfigError
from tests.console.test_notify import Receiver

SECRET = "cbsec-test"
HYGIENE = ("ai:deal-hygiene", "propose", "read")


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _callbacks(service, hosts=("127.0.0.1",)) -> Notifier:
    settings = NotifySettings(callback_hosts=list(hosts), callback_secret_env="CB_SECRET")
    n = Notifier(settings, engine=service.gate.store.engine, env={"CB_SECRET": SECRET}, clock=service.gate.clock,
                 sleep=lambda _s: None, start=False)
    service.events, service.callback_hosts = n, frozenset(hosts)
    return n


def _deal(client, token) -> str:
    made = client.post("/v1/proposals", headers=token("ai:deal-intake", "propose"), json={"proposals": [
        {"object": "Opportunity", "op": "create",
         "fields": {"Name": "Deal", "StageName": "Proposal", "CloseDate": "2027-01-29"}}]}).json()
    return made["outcomes"][0]["record_id"]


def _queue(client, token, callback_url):
    deal = _deal(client, token)
    return client.post("/v1/proposals", headers=token(*HYGIENE), json={
        "callback_url": callback_url,
        "proposals": [{"object": "Opportunity", "op": "update", "record_id": deal,
                       "fields": {"ForecastCategoryName": "Commit"}}]})


def test_the_callback_hears_the_approval_signed(console_client, token, service, receiver):
    """Queued with a callback: nothing is sent while it waits; once approved, one signed POST with the
    event and the change goes to the agent's URL (and is recorded)."""
    n = _callbacks(service)
    r = _queue(console_client, token, receiver.url + "/agent/cb")
    assert r.status_code == 200
    [q] = r.json()["outcomes"]
    assert q["status"] == "queued"
    n.drain()
    assert receiver.got == []
    admin = token("admin:ana", "approve", "read")
    cred = service.credentials.authenticate(admin["Authorization"].split()[1])
    service.approve(cred, q["change_id"])
    n.drain()
    [got] = receiver.got
    assert got["path"] == "/agent/cb"
    assert got["headers"][SIGNATURE_HEADER] == "sha256=" + hmac.new(SECRET.encode(), got["body"], sha256).hexdigest()
    body = json.loads(got["body"])
    assert body["event"] == "approved" and body["change"]["change_id"] == q["change_id"]
    assert "callback_url" not in body["change"]
    assert [(d["event"], d["webhook"], d["status"]) for d in n.deliveries()] == [
        ("approved", "callback:127.0.0.1", "delivered")]


def test_a_rejection_is_called_back_too(console_client, token, service, receiver):
    """A person's rejection reaches the callback as event rejected."""
    n = _callbacks(service)
    [q] = _queue(console_client, token, receiver.url + "/cb").json()["outcomes"]
    admin = token("admin:ana", "approve", "read")
    service.reject(service.credentials.authenticate(admin["Authorization"].split()[1]), q["change_id"], reason="no")
    n.drain()
    assert [json.loads(g["body"])["event"] for g in receiver.got] == ["rejected"]


@pytest.mark.parametrize("url", ["http://evil.example/cb", "ftp://127.0.0.1/cb", "http://127.0.0.1.evil.example/",
                                 "not a url", "http://127.0.0.1:99999/cb", "http://evil.example@127.0.0.1/cb"])
def test_a_callback_to_another_host_is_refused_and_nothing_is_decided(console_client, token, service, url):
    """Only hosts in notify.callback_hosts: anything else is 403 callback_not_allowed, the trail unchanged."""
    _callbacks(service)
    deal, agent = _deal(console_client, token), token(*HYGIENE)
    head = service.gate.store.head()[0]
    r = console_client.post("/v1/proposals", headers=agent, json={
        "callback_url": url, "proposals": [{"object": "Opportunity", "op": "update", "record_id": deal,
                                            "fields": {"ForecastCategoryName": "Commit"}}]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "callback_not_allowed"
    assert service.gate.store.head()[0] == head


def test_without_callback_hosts_every_callback_is_refused(console_client, token, service):
    """The default config allows no callback host."""
    r = _queue(console_client, token, "http://127.0.0.1:9/cb")
    assert r.status_code == 403 and r.json()["error"]["code"] == "callback_not_allowed"


def test_callbacks_need_a_signing_secret(service):
    """callback_hosts without a secret in the environment is a clear config error."""
    with pytest.raises(ConfigError) as exc:
        Notifier(NotifySettings(callback_hosts=["127.0.0.1"]), engine=service.gate.store.engine, env={},
                 start=False)
    assert "callback_secret_env" in str(exc.value)
