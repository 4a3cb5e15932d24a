"""The proposals route's short way answers exactly as FastAPI's general handling does.

Two services built alike (same clock, ids and rulebook) each get an app, one with the short way
(:mod:`crmgate.doors.api.lean`) and one without; the same requests must get the same status, the
same headers (but the request id) and the same bytes, whatever the request: well-formed, refused
for who sends it, malformed in every way the short way hands over, or in flight (409)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from crmgate.adapters.sandbox.faults import ProcessKilled
from crmgate.config import load_config
from crmgate.doors.api import build_service, create_app
from crmgate.project.scaffold import init_project
from tests.api.conftest import Monotonic, lead
from tests.conftest import CountingIds, FakeClock


class Side:
    """One service and its app, with the credentials every case uses."""

    def __init__(self, root: Path, *, lean: bool) -> None:
        init_project(root)
        self.service = build_service(load_config(root / "crmgate.yaml"), env={}, clock=FakeClock(), ids=CountingIds(),
                                     monotonic=Monotonic())
        self.client = TestClient(create_app(self.service, lean=lean), raise_server_exceptions=False)
        self.tokens = {}
        for name, actor, scopes, limit in (("agent", "ai:lead-intake-1", ["propose", "read"], None),
                                           ("reader", "ai:lead-intake-1", ["read"], None),
                                           ("limited", "ai:lead-intake-1", ["propose"], 2)):
            self.tokens[name] = self.service.credentials.create(actor, scopes, by="admin:root", rate_limit=limit)[1]
        self.service.credentials.revoke(self.service.credentials.create("ai:x", ["propose"], by="admin:root")[0].id,
                                        by="admin:root")

    def send(self, who: str | None, body: bytes | None, *, content_type: str | None = "application/json",
             auth: str | None = None, query: str = "") -> tuple[int, dict[str, str], bytes]:
        headers = {}
        if who is not None:
            headers["Authorization"] = auth.format(self.tokens[who]) if auth else f"Bearer {self.tokens[who]}"
        if content_type is not None:
            headers["Content-Type"] = content_type
        r = self.client.post(f"/v1/proposals{query}", content=body, headers=headers)
        kept = {k: v for k, v in r.headers.items() if k != "x-request-id"}
        return r.status_code, kept, r.content


@pytest.fixture
def sides(tmp_path: Path) -> Iterator[tuple[Side, Side]]:
    pair = Side(tmp_path / "lean", lean=True), Side(tmp_path / "general", lean=False)
    with pair[0].client, pair[1].client:
        yield pair
    for side in pair:
        side.service.gate.close()


def _json(value) -> bytes:
    return json.dumps(value).encode()


CASES = [
    ("one proposal", "agent", _json({"proposals": [lead()]}), {}),
    ("two, one rejected", "agent", _json({"proposals": [lead(), lead(Country="Narnia")]}), {}),
    ("an explicit actor", "agent", _json({"proposals": [{**lead(), "actor": "ai:lead-intake-1"}]}), {}),
    ("another actor", "agent", _json({"proposals": [{**lead(), "actor": "ai:other"}]}), {}),
    ("a callback to a host not allowed", "agent", _json({"proposals": [lead()], "callback_url": "http://x.test/"}), {}),
    ("an unknown field", "agent", _json({"proposals": [{**lead(), "colour": "red"}]}), {}),
    ("no proposals", "agent", _json({"proposals": []}), {}),
    ("a list body", "agent", _json([lead()]), {}),
    ("a string body", "agent", _json("x"), {}),
    ("bad JSON", "agent", b'{"proposals": [', {}),
    ("NaN", "agent", b'{"proposals": [{"object": "Lead", "op": "create", "confidence": NaN}]}', {}),
    ("an empty body", "agent", b"", {}),
    ("no content type", "agent", _json({"proposals": [lead()]}), {"content_type": None}),
    ("text/plain", "agent", _json({"proposals": [lead()]}), {"content_type": "text/plain"}),
    ("+json with a charset", "agent", _json({"proposals": [lead()]}),
     {"content_type": "application/vnd.x+json; charset=utf-8"}),
    ("a query string", "agent", _json({"proposals": [lead()]}), {"query": "?dry=1"}),
    ("no token", None, _json({"proposals": [lead()]}), {}),
    ("no token, bad body", None, _json({"proposals": "x"}), {}),
    ("basic auth", "agent", _json({"proposals": [lead()]}), {"auth": "Basic {}"}),
    ("lower-case bearer", "agent", _json({"proposals": [lead()]}), {"auth": "bearer {}"}),
    ("a wrong token", "agent", _json({"proposals": [lead()]}), {"auth": "Bearer {}x"}),
    ("no propose scope", "reader", _json({"proposals": [lead()]}), {}),
    ("no propose scope, bad body", "reader", _json({"proposals": "x"}), {}),
    ("limited 1", "limited", _json({"proposals": [lead()]}), {}),
    ("limited 2", "limited", _json({"proposals": [lead()]}), {}),
    ("limited 3: over the limit", "limited", _json({"proposals": [lead()]}), {}),
    ("an idempotency key", "agent", _json({"proposals": [{**lead(), "idempotency_key": "k-1"}]}), {}),
    ("the key again: replayed", "agent", _json({"proposals": [{**lead(), "idempotency_key": "k-1"}]}), {}),
]


def test_the_short_way_answers_as_the_general_one(sides):
    lean, general = sides
    for name, who, body, kw in CASES:
        assert lean.send(who, body, **kw) == general.send(who, body, **kw), name


def test_a_key_in_flight_answers_409_the_same_way(sides):
    """The status, Retry-After and outcome of a key whose first attempt died mid-write."""
    answers = []
    for side in sides:
        side.service.gate.adapter.inject_fault("create_many", code="process_killed", whole_call=True,
                                               after_write=True)
        with pytest.raises(ProcessKilled):
            side.service.gate.propose({**lead(), "actor": "ai:lead-intake-1", "idempotency_key": "k-fly"})
        answers.append(side.send("agent", _json({"proposals": [{**lead(), "idempotency_key": "k-fly"}]})))
    assert answers[0][0] == 409 and answers[0][1]["retry-after"] == "5"
    assert answers[0] == answers[1]


def test_the_short_way_is_taken(sides, monkeypatch):
    """The cases above would pass with the short way never taken: a well-formed request must not
    reach FastAPI's dependency solving."""
    import fastapi.routing

    def refuse(*_a, **_k):
        raise AssertionError("the general handler was used")

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", refuse)
    lean, _general = sides
    status, _headers, body = lean.send("agent", _json({"proposals": [lead()]}))
    assert status == 200 and json.loads(body)["outcomes"][0]["status"] == "applied"
