"""HTTP: 5,000 malformed bodies (hypothesis) get a structured 400/413/422, never a 500, never a write."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_bodies = st.one_of(
    st.binary(max_size=200),
    st.integers(65, 200_000).map(lambda n: b'{"proposals":' + b"[" * n),
    st.integers(65, 900).map(lambda n: ('{"proposals":[{"object":"Lead","op":"create","fields":{"x":'
                                        + "[" * n + "]" * n + "}}]}").encode()),
    st.sampled_from([b'{"proposals":[{"object":"Lead","op":"create","fields":{"Company":NaN}}]}',
                     b'{"proposals":[{"object":"Lead","op":"create","fields":{"Company":Infinity}}]}']),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                 lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3),
                 max_leaves=10).map(lambda v: json.dumps({"proposals": [v]}).encode()),
)


_TOKENS: dict[int, dict[str, str]] = {}


def _agent(token) -> dict[str, str]:
    """One credential per test run (the fixture is shared by every example), with room for 5,000 calls."""
    if id(token) not in _TOKENS:
        _TOKENS[id(token)] = token("ai:lead-intake-1", "propose", "read", rate_limit=1_000_000)
    return _TOKENS[id(token)]


@settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies)
def test_malformed_bodies_are_refused_without_a_write(client, service, token, body):
    """Whatever the body, the answer is a JSON error with a code, and the trail does not grow."""
    agent = _agent(token)
    before = service.gate.store.count()
    r = client.post("/v1/proposals", content=body, headers={**agent, "content-type": "application/json"})
    assert r.status_code in (400, 413, 422), (body[:100], r.status_code, r.text[:300])
    assert r.json()["error"]["code"]
    assert service.gate.store.count() == before
