"""Determinism, proved: the owner depends only on the record, the rulebook and the pool state."""
from __future__ import annotations

import json
import random
import subprocess
import sys

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from crmgate.rules.loader import parse_rulebook
from crmgate.rules.routing import route
from tests.routing.conftest import routing_text

COUNTRIES = ["DE", "FR", "GB", "US", "CA", "JP", None]
COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella", None]
records = st.fixed_dictionaries({
    "Country": st.sampled_from(COUNTRIES),
    "Company": st.sampled_from(COMPANIES),
    "NumberOfEmployees": st.one_of(st.none(), st.integers(0, 5000)),
    "OwnerId": st.sampled_from([None, None, "005HUMAN"]),
})
suggestions = st.sampled_from([None, "005NA1", "005NA2", "005EE1", "005OTHER"])

BASE = parse_rulebook(routing_text(enrichment=False))


def _shuffled(value, rnd: random.Random):
    """The same YAML data with every mapping's keys in a random order."""
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: _shuffled(v, rnd) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rnd) for v in value]
    return value


def decisions(rb, batch, suggestion_list):
    """Route a batch in order, threading pool state the way the store does."""
    section, state, out = rb.routing["Lead"], {}, []
    for record, suggestion in zip(batch, suggestion_list):
        r = route("Lead", section, record, suggestion, state)
        if r.pool and r.pool_after is not None:
            state = {**state, r.pool: r.pool_after}
        out.append((r.owner, r.step, r.winner, r.pool))
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(records, min_size=1, max_size=12), st.lists(suggestions, min_size=12, max_size=12),
       st.randoms(use_true_random=False))
def test_key_order_of_rulebook_and_record_does_not_matter(batch, sugg, rnd):
    """Shuffling the key order of every YAML mapping and of each record changes no decision."""
    data = yaml.safe_load(routing_text(enrichment=False))
    shuffled = parse_rulebook(yaml.safe_dump(_shuffled(data, rnd), sort_keys=False, allow_unicode=True))
    mixed = [dict(sorted(r.items(), key=lambda _: rnd.random())) for r in batch]
    assert decisions(BASE, batch, sugg) == decisions(shuffled, mixed, sugg)


@settings(max_examples=60, deadline=None)
@given(st.lists(records, min_size=2, max_size=12), st.randoms(use_true_random=False))
def test_batch_order_only_moves_pool_slots(batch, rnd):
    """Reordering a batch changes no fixed-owner decision; pool picks follow the pool's own
    sequence in arrival order, whoever arrives."""
    order = list(range(len(batch)))
    rnd.shuffle(order)
    none = [None] * len(batch)
    first = decisions(BASE, batch, none)
    second = decisions(BASE, [batch[i] for i in order], none)
    for pos, i in enumerate(order):
        a, b = first[i], second[pos]
        if a[3] is None:  # not routed to a pool: a pure function of the record
            assert a == b
    for pool in ("emea-enterprise", "north-america"):
        assert [d[0] for d in first if d[3] == pool] == [d[0] for d in second if d[3] == pool]


def test_another_process_decides_the_same():
    """A fresh interpreter with a different hash seed routes a fixed batch identically."""
    batch = [{"Country": c, "Company": co, "NumberOfEmployees": n, "OwnerId": None}
             for c in COUNTRIES for co in COMPANIES for n in (None, 10, 4000)]
    here = decisions(BASE, batch, [None] * len(batch))
    code = (
        "import json,sys\n"
        "from tests.routing.test_determinism import BASE, decisions\n"
        "batch=json.load(sys.stdin)\n"
        "print(json.dumps(decisions(BASE, batch, [None]*len(batch))))\n"
    )
    for seed in ("1", "4242"):
        out = subprocess.run([sys.executable, "-c", code], input=json.dumps(batch), capture_output=True,
                             text=True, check=True, env={"PYTHONHASHSEED": seed, "PATH": ""},
                             cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]))
        assert [tuple(x) for x in json.loads(out.stdout)] == here
