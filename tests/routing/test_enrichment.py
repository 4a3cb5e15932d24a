"""Enrichment with per-field fallback: every failure mode applies the configured policy."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crmgate.decide.enrichment import ProviderRegistry, http_provider, thread_runner
from crmgate.rules.loader import parse_rulebook
from tests.routing.conftest import routing_text


def lead(**fields):
    base = {"LastName": "Ng", "Company": "Initech"}
    return {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1", "fields": {**base, **fields}}


class Provider:
    """A scripted provider that counts its calls."""

    def __init__(self, answer=None, exc: Exception | None = None):
        self.answer, self.exc, self.calls = answer, exc, 0

    def __call__(self, object_name, record):
        self.calls += 1
        if self.exc:
            raise self.exc
        return self.answer


@pytest.fixture
def make(make_gate, sandbox, full_rulebook):
    def build(provider, runner=None, rules=None):
        gate = make_gate(sandbox, rules=rules or full_rulebook)
        gate.providers.register("firmographics", provider)
        if runner is not None:
            gate._path.enricher.runner = runner
        return gate
    return build


def stored(sandbox, out):
    return dict(sandbox.get_many("Lead", [out.record_id])[out.record_id].fields)


def test_provider_values_are_validated_written_and_attributed(make, sandbox):
    """Enriched values are written, routing sees them, and provenance names the provider."""
    gate = make(Provider({"Country": "DE", "NumberOfEmployees": 5000, "Rating": "Hot"}))
    out = gate.propose(lead())[0]
    assert out.status == "applied"
    fields = stored(sandbox, out)
    assert {k: fields[k] for k in ("Country", "NumberOfEmployees", "Rating")} == {
        "Country": "DE", "NumberOfEmployees": 5000, "Rating": "Hot"}
    prov = out.to_dict()["provenance"]
    assert prov["Country"] == {"source": "provider", "detail": "firmographics", "provider_status": "ok"}
    assert prov["LastName"] == {"source": "proposal"}
    assert out.to_dict()["routing"]["winner"] == "emea-enterprise"  # routing saw the enriched values


def test_proposal_values_win_and_skip_the_call(make):
    """A proposal that already sets every enriched field does not call the provider."""
    provider = Provider({"Country": "FR"})
    gate = make(provider)
    out = gate.propose(lead(Country="US", NumberOfEmployees=3, Rating="Cold"))[0]
    assert provider.calls == 0 and out.to_dict()["enrichment"]["status"] == "not_called"


@pytest.mark.parametrize("provider, status", [
    (Provider(exc=ConnectionError("provider down")), "error"),
    (Provider(answer=["not", "a", "mapping"]), "malformed"),
])
def test_failures_apply_each_fields_policy(make, sandbox, provider, status):
    """On an exception or a malformed answer: NumberOfEmployees is skipped, Rating takes its
    default, and Country (hold) queues the whole change, which writes nothing."""
    gate = make(provider)
    out = gate.propose(lead())[0]
    assert out.status == "queued" and out.rule == "enrichment.Lead.fields.Country.on_failure"
    enr = out.to_dict()["enrichment"]
    assert enr["status"] == status
    assert enr["fields"] == {"Country": "held", "NumberOfEmployees": "skipped", "Rating": "default"}
    assert {c.field: c.after for c in out.changes}["Rating"] == "Cold"
    assert "NumberOfEmployees" not in {c.field for c in out.changes}
    assert out.to_dict()["provenance"]["Rating"]["source"] == "default"


def test_invalid_value_is_never_written(make, sandbox):
    """A provider value that fails validation triggers that field's policy; the others are used."""
    gate = make(Provider({"Country": "Germany", "NumberOfEmployees": -5, "Rating": "Warm"}))
    out = gate.propose(lead(Country="DE"))[0]
    assert out.status == "applied"
    fields = stored(sandbox, out)
    assert "NumberOfEmployees" not in fields and fields["Rating"] == "Warm" and fields["Country"] == "DE"
    assert out.to_dict()["enrichment"]["fields"]["NumberOfEmployees"] == "skipped"


def test_timeout_applies_policy(make):
    """A provider that does not answer in time is a timeout: the fallbacks apply."""
    release = threading.Event()

    def slow(object_name, record):
        release.wait(5)
        return {"Country": "DE"}

    gate = make(slow, runner=lambda fn, timeout: thread_runner(fn, 0))
    try:
        out = gate.propose(lead())[0]
    finally:
        release.set()
    assert out.to_dict()["enrichment"]["status"] == "timeout" and out.status == "queued"


def test_reject_policy_rejects(make):
    """A field whose policy is reject turns a provider failure into a rejection with a code."""
    rb = parse_rulebook(routing_text().replace("Country:           {on_failure: hold}",
                                               "Country:           {on_failure: reject}"))
    out = make(Provider(exc=RuntimeError("boom")), rules=rb).propose(lead())[0]
    assert out.status == "rejected" and out.violations[0].code == "enrichment_failed"


def test_circuit_opens_after_consecutive_failures_and_recovers(make, clock):
    """After 5 failures the provider is not called for 60 s and the fallback applies at once;
    after the cooldown one trial call closes the circuit again."""
    provider = Provider(exc=TimeoutError("slow"))
    gate = make(provider)
    gate.propose([lead(Company=f"C{i}") for i in range(5)])
    assert provider.calls == 5
    out = gate.propose(lead())[0]
    assert provider.calls == 5 and out.to_dict()["enrichment"]["status"] == "circuit_open"
    clock.advance(61)
    provider.exc, provider.answer = None, {"Country": "US"}
    assert gate.propose(lead())[0].to_dict()["enrichment"]["status"] == "ok"
    assert provider.calls == 6


def test_entry_point_provider_is_found():
    """The packaged sample provider is registered under the crmgate.enrichment entry point group."""
    provider = ProviderRegistry().get("sample-firmographics")
    assert provider is not None
    assert provider("Lead", {"Company": "Nordwind GmbH"})["Country"] == "DE"
    assert provider("Lead", {"Company": "Unknown Ltd"}) == {}


class _Handler(BaseHTTPRequestHandler):
    answers: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status, payload = self.answers.pop(0)
        data = json.dumps(payload(body) if callable(payload) else payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/enrich", _Handler.answers
    server.shutdown()


def test_http_provider_against_loopback(make, sandbox, http_server):
    """An HTTP JSON provider is called with the record; a 500 from it is a provider error."""
    url, answers = http_server
    answers[:] = [(200, lambda body: {"Country": "FR" if body["record"]["Company"] == "Initech" else "US",
                                      "NumberOfEmployees": 12, "Rating": "Warm"}),
                  (500, {"message": "upstream broke"})]
    gate = make(http_provider(url, timeout=5))
    ok = gate.propose(lead())[0]
    assert ok.status == "applied" and stored(sandbox, ok)["Country"] == "FR"
    broken = gate.propose(lead())[0]
    assert broken.to_dict()["enrichment"]["status"] == "error" and broken.status == "queued"
