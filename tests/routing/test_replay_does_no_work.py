"""A replayed idempotency key does no work: no CRM call, no enrichment call, no routing draw."""
from __future__ import annotations

from tests.routing.test_enrichment import Provider, lead, make  # noqa: F401  (fixture re-used)


def _crm_calls(sandbox) -> list[str]:
    return [c[0] for c in sandbox.calls]


def test_replayed_key_calls_neither_the_crm_nor_the_provider(make, sandbox):
    """The second proposal with the same key returns the first outcome; the sandbox's call log and
    the provider's call count do not move, and only a replay is recorded."""
    provider = Provider({"Country": "DE", "NumberOfEmployees": 5000, "Rating": "Hot"})
    gate = make(provider)
    first = gate.propose({**lead(), "idempotency_key": "k-1"})[0]
    assert first.status == "applied" and provider.calls == 1
    calls_before, head_before = _crm_calls(sandbox), gate.store.head()[0]

    again = gate.propose({**lead(), "idempotency_key": "k-1"})[0]

    assert again.replayed and again.record_id == first.record_id and again.change_id == first.change_id
    assert provider.calls == 1
    assert _crm_calls(sandbox) == calls_before
    appended = [e.kind for e in gate.store.iter_entries() if e.seq > head_before]
    assert all(kind.startswith("proposal.") for kind in appended)
    assert "write.intent" not in appended


def test_replay_inside_one_batch_calls_the_provider_once(make, sandbox):
    """Two proposals with one key in one batch: one provider call, one create."""
    provider = Provider({"Country": "DE"})
    gate = make(provider)
    outs = gate.propose([{**lead(), "idempotency_key": "k-2"}, {**lead(), "idempotency_key": "k-2"}])
    assert outs[1].replayed and outs[1].record_id == outs[0].record_id
    assert provider.calls == 1
    assert _crm_calls(sandbox).count("create_many") == 1
