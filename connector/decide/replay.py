"""Routing replay: re-decide past routing decisions from the trail under another rulebook.

Nothing is written. Each recorded decision carries the record routing saw (``routing.input``) and
the AI's suggestion; replay routes it again with the new rulebook's live section for the object.
Pools are simulated: a pool starts from the state the recorded decision saw (``pool_before``)
the first time replay meets it, or fresh when the old rules never used it, and advances only for
decisions that were committed (applied or queued), as the live store did.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from crmgate.decide.governance import may_write
from crmgate.rules.proposal import Op, Proposal
from crmgate.rules.routing import PoolState, RoutingSection, route, sections_for
from crmgate.rules.schema import Rulebook
from crmgate.trail import Entry, TrailStore


@dataclass
class ReplayReport:
    decisions: int = 0
    changed: int = 0
    transitions: Counter = field(default_factory=Counter)
    differences: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "kind": "summary", "decisions": self.decisions, "would_change_owner": self.changed,
            "unchanged": self.decisions - self.changed,
            "transitions": [{"from_rule": a, "to_rule": b, "count": n}
                            for (a, b), n in sorted(self.transitions.items(), key=lambda x: (-x[1], x[0]))],
        }


def _decisions(store: TrailStore, since: str | None, until: str | None, page: int = 2000
               ) -> Iterator[Any]:
    start = 1
    while True:
        batch = store.query(kinds=["proposal.decided"], since=since, until=until, start=start, limit=page)
        yield from batch
        if len(batch) < page:
            return
        start = batch[-1].seq + 1


def replay(store: TrailStore, rulebook: Rulebook, *, since: str | None = None,
           until: str | None = None) -> ReplayReport:
    report = ReplayReport()
    states: dict[tuple[str, str], PoolState] = {}
    for entry in _decisions(store, since, until):
        old = entry.data.get("routing")
        if not old or old.get("input") is None:
            continue
        report.decisions += 1
        live = [(n, s) for n, s in sections_for(rulebook.routing, old["object"]) if not s.shadow]
        new_owner, new_rule, new_step = None, "unrouted", None
        if live:
            name, section = live[0]
            suggestion = old.get("suggestion")
            if suggestion is not None and not _may_suggest(rulebook, entry, old, section.field):
                suggestion = None  # as live routing does: the use case may not write the field
            new = _route_again(name, section, old, suggestion, states)
            new_owner, new_rule, new_step = new.owner, new.winner or "", new.step
        if new_owner != old.get("owner"):
            report.changed += 1
            report.transitions[(old.get("winner") or "", new_rule)] += 1
            report.differences.append({
                "kind": "difference", "seq": entry.seq, "ts": entry.ts, "proposal_id": entry.proposal_id,
                "object": old["object"], "record_id": entry.record_id,
                "old": {"owner": old.get("owner"), "rule": old.get("winner"), "step": old.get("step")},
                "new": {"owner": new_owner, "rule": new_rule, "step": new_step},
            })
    return report


def _may_suggest(rulebook: Rulebook, entry: Entry, old: dict[str, Any], field_name: str) -> bool:
    recorded = entry.data.get("proposal") or {}
    proposal = Proposal.model_construct(
        object=old["object"], op=Op(entry.op), record_id=entry.record_id, actor=entry.actor,
        use_case=recorded.get("use_case"), fields={field_name: old.get("suggestion")})
    return may_write(rulebook, proposal, field_name)


def _route_again(name: str, section: RoutingSection, old: dict[str, Any], suggestion: Any,
                 states: dict[tuple[str, str], PoolState]):
    if old.get("pool") and old.get("pool_before") is not None:
        states.setdefault((name, old["pool"]), PoolState.from_dict(old["pool_before"]))
    pools = {p: states.get((name, p), PoolState()) for p in section.pools}
    new = route(name, section, old["input"], suggestion, pools)
    if old.get("committed") and new.pool and new.pool_after is not None:
        states[(name, new.pool)] = new.pool_after
    return new
