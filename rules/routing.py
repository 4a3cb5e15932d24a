"""Deterministic routing: who owns a record, decided by one documented total order.

A routing section (``routing: {NAME: {...}}``; ``object`` defaults to NAME) assigns one field
(``field``, default ``OwnerId``) of one object. Resolution, first step that decides wins:

1. ``guardrail``: guardrails in file order; the first whose ``when`` matches decides
   (``assign: {owner: X}`` or ``assign: keep`` -- the current value stays).
2. Matching ``rules`` sorted by priority (high first), then specificity (more fields in ``when``
   first), then rule id (ascending). The winner's step is the first of ``priority``,
   ``specificity``, ``id`` that separates it from the runner-up (a sole match: ``priority``).
3. ``ai_suggestion``: the proposal's own value for the field, as ``ai_suggestions`` allows:
   ``ignore`` never; ``within_pool`` when the winning rule assigns a pool that has the suggested
   owner as a member with room; ``advisory`` only when no guardrail or rule matched.
4. ``pool``: the winning rule's pool picks a member from its persisted state (see
   :func:`pick_member`); members at capacity are skipped; a full pool falls through to default.
5. ``default``: the section's ``default`` owner.

Conditions see the record as it would be after the change, with the routed field at its current
value (the AI's suggestion is an input to step 3, never to a condition). Everything here is pure:
pool state goes in and comes out; the connector persists it atomically.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import Field, model_validator

from crmgate.rules.conditions import is_blank, matches
from crmgate.rules.model import Model

Step = Literal["guardrail", "priority", "specificity", "id", "ai_suggestion", "pool", "default"]


class Assign(Model):
    """Exactly one of a fixed owner or a pool."""

    owner: str | None = Field(default=None, min_length=1)
    pool: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one(self) -> "Assign":
        if (self.owner is None) == (self.pool is None):
            raise ValueError("expected exactly one of owner or pool")
        return self


class Guardrail(Model):
    id: str = Field(min_length=1)
    when: dict[str, Any]
    assign: Assign | Literal["keep"]


class RoutingRule(Model):
    id: str = Field(min_length=1)
    priority: int = 0
    when: dict[str, Any]
    assign: Assign


class PoolMember(Model):
    id: str = Field(min_length=1)
    capacity: int | None = Field(default=None, ge=0)
    weight: int = Field(default=1, ge=1)


class Pool(Model):
    strategy: Literal["round_robin", "weighted"] = "round_robin"
    members: list[PoolMember] = Field(min_length=1)


class RoutingSection(Model):
    """One routing section. ``shadow: true`` sections are evaluated and traced, never written."""

    object: str | None = None
    field: str = "OwnerId"
    on: list[Literal["create", "update"]] = Field(default_factory=lambda: ["create", "update"], min_length=1)
    shadow: bool = False
    guardrails: list[Guardrail] = Field(default_factory=list)
    rules: list[RoutingRule] = Field(default_factory=list)
    default: Assign
    pools: dict[str, Pool] = Field(default_factory=dict)
    ai_suggestions: Literal["ignore", "within_pool", "advisory"] = "ignore"


# -- pool state ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PoolState:
    """A pool's persisted state: the next position in its sequence and assignments per member."""

    cursor: int = 0
    counts: tuple[tuple[str, int], ...] = ()

    def count(self, member: str) -> int:
        return dict(self.counts).get(member, 0)

    def assigned(self, member: str, cursor: int | None = None) -> "PoolState":
        counts = dict(self.counts)
        counts[member] = counts.get(member, 0) + 1
        return PoolState(self.cursor if cursor is None else cursor, tuple(sorted(counts.items())))

    def to_dict(self) -> dict[str, Any]:
        return {"cursor": self.cursor, "counts": dict(self.counts)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "PoolState":
        if not data:
            return cls()
        return cls(int(data.get("cursor", 0)), tuple(sorted((str(k), int(v)) for k, v in
                                                         (data.get("counts") or {}).items())))


def sequence(pool: Pool) -> tuple[str, ...]:
    """The pool's repeating sequence of member ids.

    ``round_robin``: members in file order. ``weighted``: smooth weighted round robin (the nginx
    algorithm) over one period of ``sum(weights)`` picks, so weights 2:1 give ``A B A``, not ``A A B``.
    """
    if pool.strategy == "round_robin":
        return tuple(m.id for m in pool.members)
    current = {m.id: 0 for m in pool.members}
    total = sum(m.weight for m in pool.members)
    out = []
    for _ in range(total):
        for m in pool.members:
            current[m.id] += m.weight
        best = max(pool.members, key=lambda m: current[m.id])  # ties: first in file order
        current[best.id] -= total
        out.append(best.id)
    return tuple(out)


def has_room(pool: Pool, state: PoolState, member_id: str) -> bool:
    member = next((m for m in pool.members if m.id == member_id), None)
    if member is None:
        return False
    return member.capacity is None or state.count(member_id) < member.capacity


def pick_member(pool: Pool, state: PoolState) -> tuple[str | None, PoolState]:
    """The next member with room, from the cursor on; the state after. None when all are full."""
    seq = sequence(pool)
    for offset in range(len(seq)):
        pos = state.cursor + offset
        member = seq[pos % len(seq)]
        if has_room(pool, state, member):
            return member, state.assigned(member, cursor=pos + 1)
    return None, state


# -- resolution ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Candidate:
    kind: Literal["guardrail", "rule"]
    id: str
    priority: int | None
    specificity: int
    assign: dict[str, Any] | str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "priority": self.priority,
                "specificity": self.specificity, "assign": self.assign}


@dataclass(frozen=True, slots=True)
class RoutingResult:
    """What routing decided for one record, with everything needed to explain it."""

    section: str
    object: str
    field: str
    owner: str | None
    step: Step
    winner: str | None  # guardrail/rule id, "ai_suggestion" or "default"
    candidates: tuple[Candidate, ...]
    current: Any = None
    pool: str | None = None
    pool_before: PoolState | None = None
    pool_after: PoolState | None = None
    suggestion: str | None = None
    suggestion_status: str | None = None  # accepted | ignored | not_in_pool | pool_member_full | overruled
    reason: str = ""
    shadow: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def by_ai(self) -> bool:
        return self.step == "ai_suggestion"

    @property
    def changes_owner(self) -> bool:
        return self.owner is not None and self.owner != self.current

    def to_dict(self) -> dict[str, Any]:
        return {
            "section": self.section, "object": self.object, "field": self.field, "owner": self.owner,
            "current": self.current, "step": self.step, "winner": self.winner,
            "candidates": [c.to_dict() for c in self.candidates], "pool": self.pool,
            "pool_before": self.pool_before.to_dict() if self.pool_before else None,
            "pool_after": self.pool_after.to_dict() if self.pool_after else None,
            "suggestion": self.suggestion, "suggestion_status": self.suggestion_status,
            "reason": self.reason, "shadow": self.shadow, "notes": list(self.notes),
        }


def applies(section: RoutingSection, op: str) -> bool:
    return op in section.on


def route(name: str, section: RoutingSection, record: Mapping[str, Any], suggestion: Any,
          pools: Mapping[str, PoolState]) -> RoutingResult:
    """Resolve the owner for ``record`` (the after-record, routed field at its current value).

    ``pools`` holds the current state of every pool the section names (missing = fresh). Pure: the
    returned result carries ``pool_after`` for the caller to persist.
    """
    obj = section.object or name
    current = record.get(section.field)
    suggested = None if is_blank(suggestion) else str(suggestion)
    base = dict(section=name, object=obj, field=section.field, current=current, suggestion=suggested,
                shadow=section.shadow)
    for g in section.guardrails:
        if matches(g.when, record):
            cand = Candidate("guardrail", g.id, None, len(g.when), _assign_repr(g.assign))
            owner = current if g.assign == "keep" else g.assign.owner  # type: ignore[union-attr]
            how = "keeps the current owner" if g.assign == "keep" else f"assigns {owner}"
            return RoutingResult(owner=owner, step="guardrail", winner=g.id, candidates=(cand,),
                                 suggestion_status="overruled" if suggested else None,
                                 reason=f"guardrail {g.id} matched and {how}", **base)
    matched = sorted((r for r in section.rules if matches(r.when, record)),
                     key=lambda r: (-r.priority, -len(r.when), r.id))
    cands = tuple(Candidate("rule", r.id, r.priority, len(r.when), _assign_repr(r.assign)) for r in matched)
    if not matched:
        if suggested and section.ai_suggestions == "advisory":
            return RoutingResult(owner=suggested, step="ai_suggestion", winner="ai_suggestion",
                                 candidates=(), suggestion_status="accepted",
                                 reason="no rule matched; the AI's suggested owner is taken (advisory)", **base)
        return _default(section, base, (), "no guardrail or rule matched", suggested)
    win = matched[0]
    step = _separating_step(win, matched[1] if len(matched) > 1 else None)
    if win.assign.owner is not None:
        return RoutingResult(owner=win.assign.owner, step=step, winner=win.id, candidates=cands,
                             suggestion_status="ignored" if suggested else None,
                             reason=f"rule {win.id} won by {step} and assigns {win.assign.owner}", **base)
    pool_name = win.assign.pool
    pool = section.pools[pool_name]  # type: ignore[index]
    before = pools.get(pool_name, PoolState())  # type: ignore[arg-type]
    status = None
    if suggested:
        if section.ai_suggestions != "within_pool":
            status = "ignored"
        elif not any(m.id == suggested for m in pool.members):
            status = "not_in_pool"
        elif not has_room(pool, before, suggested):
            status = "pool_member_full"
        else:
            return RoutingResult(owner=suggested, step="ai_suggestion", winner="ai_suggestion",
                                 candidates=cands, pool=pool_name, pool_before=before,
                                 pool_after=before.assigned(suggested), suggestion_status="accepted",
                                 reason=f"rule {win.id} chose pool {pool_name}; the AI's suggestion "
                                        f"{suggested} is a member with room", **base)
    member, after = pick_member(pool, before)
    if member is None:
        result = _default(section, base, cands, f"rule {win.id} chose pool {pool_name}, which is full",
                          suggested, status)
        return replace(result, pool=pool_name, pool_before=before, pool_after=before)
    return RoutingResult(owner=member, step="pool", winner=win.id, candidates=cands, pool=pool_name,
                         pool_before=before, pool_after=after, suggestion_status=status,
                         reason=f"rule {win.id} won by {step}; pool {pool_name} ({pool.strategy}) "
                                f"picked {member}", notes=(f"rule decided by {step}",), **base)


def _default(section: RoutingSection, base: dict[str, Any], cands: tuple[Candidate, ...], why: str,
             suggested: str | None, status: str | None = None) -> RoutingResult:
    owner = section.default.owner
    return RoutingResult(owner=owner, step="default", winner="default", candidates=cands,
                         suggestion_status=status or ("ignored" if suggested else None),
                         reason=f"{why}; default owner {owner}", **base)


def _separating_step(win: RoutingRule, runner_up: RoutingRule | None) -> Step:
    if runner_up is None or win.priority != runner_up.priority:
        return "priority"
    if len(win.when) != len(runner_up.when):
        return "specificity"
    return "id"


def _assign_repr(assign: Assign | str) -> dict[str, Any] | str:
    if isinstance(assign, str):
        return assign
    return {"owner": assign.owner} if assign.owner else {"pool": assign.pool}


def sections_for(routing: Mapping[str, RoutingSection], obj: str) -> list[tuple[str, RoutingSection]]:
    """The sections routing ``obj``: the live one first (at most one), then shadows, file order."""
    mine = [(n, s) for n, s in routing.items() if (s.object or n) == obj]
    return [x for x in mine if not x[1].shadow] + [x for x in mine if x[1].shadow]
