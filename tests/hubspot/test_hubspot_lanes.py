"""The write path keeps as many HubSpot chunk calls in flight as the adapter sends at once."""
from __future__ import annotations

from crmgate.writes import chunks


def test_a_pipelined_round_keeps_the_adapters_calls_in_flight(make_hs):
    """One lane would send a long round's chunks one call at a time, where one whole call to the
    adapter keeps ``max_inflight`` calls out (the ceiling with the CPU busy depends on it)."""
    assert chunks.lanes(make_hs()) == 8
    assert chunks.lanes(make_hs(max_inflight=3)) == 3
