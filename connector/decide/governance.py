"""One proposal's decision with enrichment and routing folded in. Pure given its inputs.

Order: the provider's values join the proposal (never over the proposal's own); routing resolves
the owner on the after-record; the rules decide on the proposal *without* the routed field unless
the AI's own suggestion won (an AI choosing an owner is tiered by the risk rules like any change;
an owner chosen by routing rules is a rule decision); enrichment failures then hold or reject;
finally a routed owner joins the changes of an applied or queued proposal, and only then does its
pool advance. Shadow routing sections are evaluated on the same state and never advance it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from crmgate.decide import duplicates
from crmgate.decide.pools import Key
from crmgate.rules.decision import Decision, FieldChange, decide
from crmgate.rules.enrichment import EnrichmentResult
from crmgate.rules.proposal import Op, Proposal
from crmgate.rules.routing import PoolState, RoutingResult, applies, route, sections_for
from crmgate.rules.schema import Rulebook
from crmgate.rules.usecases import resolve_use_case
from crmgate.rules.violations import Code, Violation


@dataclass(frozen=True, slots=True, init=False)
class Governed:
    decision: Decision
    routing: RoutingResult | None = None
    routing_input: dict[str, Any] | None = None
    shadows: tuple[RoutingResult, ...] = ()
    enrichment: EnrichmentResult | None = None
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict)
    pool_changes: dict[Key, PoolState] = field(default_factory=dict)
    duplicate: duplicates.DuplicateCheck | None = None

    def __init__(self, decision: Decision, routing: RoutingResult | None = None,
                 routing_input: dict[str, Any] | None = None, shadows: tuple[RoutingResult, ...] = (),
                 enrichment: EnrichmentResult | None = None, provenance: dict[str, dict[str, Any]] | None = None,
                 pool_changes: dict[Key, PoolState] | None = None,
                 duplicate: duplicates.DuplicateCheck | None = None) -> None:
        # the slots set directly (one per proposal): a frozen dataclass's own __init__ calls
        # object.__setattr__ once per field
        _SET_DECISION(self, decision)
        _SET_ROUTING(self, routing)
        _SET_ROUTING_INPUT(self, routing_input)
        _SET_SHADOWS(self, shadows)
        _SET_ENRICHMENT(self, enrichment)
        _SET_PROVENANCE(self, {} if provenance is None else provenance)
        _SET_POOL_CHANGES(self, {} if pool_changes is None else pool_changes)
        _SET_DUPLICATE(self, duplicate)

    def trace(self) -> dict[str, Any]:
        """What the trail and the outcome carry about routing and enrichment."""
        out: dict[str, Any] = {}
        if self.routing is not None:
            committed = self.decision.action in ("apply", "queue")
            out["routing"] = {**self.routing.to_dict(), "input": self.routing_input,
                              "committed": committed}
        if self.shadows:
            out["routing_shadow"] = [s.to_dict() for s in self.shadows]
        if self.enrichment is not None:
            out["enrichment"] = self.enrichment.to_dict()
        if self.provenance:
            out["provenance"] = self.provenance
        out.update(duplicates.trace(self.duplicate, self.decision))
        return out


(_SET_DECISION, _SET_ROUTING, _SET_ROUTING_INPUT, _SET_SHADOWS, _SET_ENRICHMENT, _SET_PROVENANCE,
 _SET_POOL_CHANGES, _SET_DUPLICATE) = (getattr(Governed, name).__set__ for name in Governed.__slots__)


def route_sections(rulebook: Rulebook, proposal: Proposal):
    if not rulebook.routing or proposal.op is Op.DELETE or proposal.object not in rulebook.objects:
        return None, []
    found = [(n, s) for n, s in sections_for(rulebook.routing, proposal.object) if applies(s, proposal.op.value)]
    live = next(((n, s) for n, s in found if not s.shadow), None)
    return live, [(n, s) for n, s in found if s.shadow]


def pool_keys(rulebook: Rulebook, proposals: list[Proposal]) -> set[Key]:
    keys: set[Key] = set()
    for p in proposals:
        live, shadows = route_sections(rulebook, p)
        for name, section in ([live] if live else []) + shadows:
            keys |= {(name, pool) for pool in section.pools}
    return keys


def govern(proposal: Proposal, current: Mapping[str, Any] | None, rulebook: Rulebook,
           enrichment: EnrichmentResult | None, states: Mapping[Key, PoolState],
           duplicate: duplicates.DuplicateCheck | None = None) -> Governed:
    if enrichment is None and not rulebook.routing:  # the common case: the rules alone decide
        d = duplicates.fold(decide(proposal, current, rulebook), duplicate)
        return Governed(d, provenance={c.field: {"source": "proposal"} for c in d.changes}, duplicate=duplicate)
    fields = proposal.fields  # read only below: copied only to add enriched values
    if enrichment is not None:
        fields = {**fields, **enrichment.values}
    live, shadow_sections = route_sections(rulebook, proposal)
    routing = routing_input = None
    decide_fields = fields
    shadows: list[RoutingResult] = []
    for name, section in ([live] if live else []) + shadow_sections:
        suggestion = fields.get(section.field)
        record = {**(current or {}), **{k: v for k, v in fields.items() if k != section.field}}
        record[section.field] = (current or {}).get(section.field)
        result = route(name, section, record, suggestion,
                       {pool: states.get((name, pool), PoolState()) for pool in section.pools})
        if section.shadow:
            shadows.append(result)
            continue
        if result.by_ai and not may_write(rulebook, proposal, section.field):
            # the use case may not set this field: the suggestion cannot win, routing decides
            result = replace(route(name, section, record, None,
                                   {pool: states.get((name, pool), PoolState()) for pool in section.pools}),
                             suggestion=result.suggestion, suggestion_status="field_not_allowed")
        routing, routing_input = result, record
        if not result.by_ai:
            decide_fields = {k: v for k, v in fields.items() if k != section.field}
    effective = proposal if decide_fields is proposal.fields or decide_fields == proposal.fields \
        else proposal.model_copy(update={"fields": decide_fields})
    d = decide(effective, current, rulebook)
    d = duplicates.fold(_apply_enrichment_policy(d, proposal, enrichment), duplicate)
    pool_changes: dict[Key, PoolState] = {}
    if routing is not None and d.action in ("apply", "queue"):
        d = _with_routed_owner(d, routing)
        if routing.pool and routing.pool_after != routing.pool_before:
            pool_changes[(routing.section, routing.pool)] = routing.pool_after  # type: ignore[assignment]
    return Governed(d, routing, routing_input, tuple(shadows), enrichment,
                    _provenance(d, enrichment, routing), pool_changes, duplicate)


def may_write(rulebook: Rulebook, proposal: Proposal, field_name: str) -> bool:
    """Whether the proposal's use case may write ``field_name`` on its object."""
    uc, violation = resolve_use_case(proposal, rulebook)
    if violation is not None or uc is None:
        return False
    grant = rulebook.use_cases[uc].allow.get(proposal.object)
    return grant is not None and field_name in grant.fields


def _apply_enrichment_policy(d: Decision, proposal: Proposal, enrichment: EnrichmentResult | None) -> Decision:
    if enrichment is None:
        return d
    obj = proposal.object
    if enrichment.reject:
        field_name, why = enrichment.reject[0]
        rule = f"enrichment.{obj}.fields.{field_name}.on_failure"
        vs = tuple(Violation(Code.ENRICHMENT_FAILED.value, obj, f, f"enrichment of {f} failed ({w}) and its "
                             "policy is reject") for f, w in enrichment.reject)
        if d.action == "shadow":
            return replace(d, would="reject", violations=d.violations + vs)
        if d.action == "reject":
            return replace(d, violations=d.violations + vs)
        return replace(d, action="reject", rule=rule, reason=vs[0].message, violations=vs)
    if enrichment.hold:
        rule = f"enrichment.{obj}.fields.{enrichment.hold[0]}.on_failure"
        why = (f"enrichment of {', '.join(enrichment.hold)} failed ({enrichment.error or enrichment.status}); "
               "the change is held for a person")
        if d.action == "apply":
            return replace(d, action="queue", rule=rule, reason=why)
        if d.action == "shadow" and d.would == "apply":
            return replace(d, would="queue")
    return d


def _with_routed_owner(d: Decision, routing: RoutingResult) -> Decision:
    if routing.by_ai or not routing.changes_owner:
        return d
    change = FieldChange(routing.field, routing.current, routing.owner)
    changes = tuple(sorted((*[c for c in d.changes if c.field != routing.field], change), key=lambda c: c.field))
    if d.rule == "no_change":
        return replace(d, changes=changes, rule=f"routing.{routing.section}.{routing.winner}", reason=routing.reason)
    return replace(d, changes=changes)


def _provenance(d: Decision, enrichment: EnrichmentResult | None,
                routing: RoutingResult | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for c in d.changes:
        if enrichment is not None and c.field in enrichment.provenance:
            out[c.field] = enrichment.provenance[c.field].to_dict()
        elif routing is not None and c.field == routing.field and not routing.by_ai:
            out[c.field] = {"source": "routing", "detail": f"routing.{routing.section}: {routing.reason}"}
        else:
            out[c.field] = {"source": "proposal"}
    return out
