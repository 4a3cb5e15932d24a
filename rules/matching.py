"""The duplicate matcher: is a proposed new record already in the CRM (or earlier in this batch)? Pure.

Two halves, both built on :mod:`crmgate.rules.normalise`:

* :func:`candidate_queries` says what to ask the CRM for, per candidate object: exact values by
  field (normalised email, the text forms of a phone number) and bounded prefixes by field
  (website forms, the first letters of a name). A rule's keys all have to agree, so a rule asks
  only by its exact keys when it has some, else by its fuzzy ones.
* :func:`find_matches` compares a proposal's fields with candidate records. A rule matches a
  candidate when every key agrees: exact keys on equal normalised values, fuzzy keys at or above
  their threshold (rapidfuzz). The rule's score for a candidate is its weakest key's score. Every
  matching rule is reported, in rule order; the FIRST one decides the action.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crmgate.rules import normalise as norm
from crmgate.rules.matching_models import FUZZY_KINDS, MatchingSection, MatchKey, MatchRule

_EXACT_ANCHORS = ("email", "phone", "website_domain")


@dataclass(frozen=True, slots=True, init=False)
class Candidate:
    """An existing record, or (``in_batch``) a create earlier in the same batch (id ``batch:<proposal>``)."""

    object: str
    id: str
    fields: Mapping[str, Any]
    in_batch: bool = False

    def __init__(self, object: str, id: str, fields: Mapping[str, Any], in_batch: bool = False) -> None:
        # the slots set directly (one per record and per create of a batch), not by object.__setattr__
        _SET_OBJECT(self, object)
        _SET_ID(self, id)
        _SET_FIELDS(self, fields)
        _SET_IN_BATCH(self, in_batch)


_SET_OBJECT, _SET_ID, _SET_FIELDS, _SET_IN_BATCH = (getattr(Candidate, name).__set__ for name in Candidate.__slots__)


@dataclass(frozen=True, slots=True)
class Scored:
    object: str
    id: str
    score: float
    in_batch: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"object": self.object, "id": self.id, "score": round(self.score, 1)}
        if self.in_batch:
            out["in_batch"] = True
        return out


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """One rule that matched, with its candidates best first."""

    rule: str
    action: str
    candidates: tuple[Scored, ...]
    overwrite: bool = False

    @property
    def best(self) -> Scored:
        return self.candidates[0]

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "action": self.action, "candidates": [c.to_dict() for c in self.candidates]}


@dataclass(frozen=True, slots=True)
class MatchResult:
    object: str
    matches: tuple[RuleMatch, ...] = ()

    @property
    def decisive(self) -> RuleMatch | None:
        return self.matches[0] if self.matches else None


@dataclass(frozen=True, slots=True)
class CandidateQuery:
    """What to ask one candidate object for: records whose field equals (case-insensitively) one
    of ``equals[field]`` or starts with one of ``prefixes[field]``."""

    equals: dict[str, tuple[str, ...]] = field(default_factory=dict)
    prefixes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.equals or self.prefixes)


def key_value(key: MatchKey, names: list[str], fields: Mapping[str, Any],
              shared: frozenset[str] = frozenset()) -> str | None:
    """The normalised value of ``key`` read from ``fields`` (``names``: the fields holding it)."""
    kind = key.kind
    if kind == "person_name":  # every named part must be there: "Okafor" alone is not a person
        values = [fields.get(n) for n in names]
        for v in values:
            if v is None or not norm.fold(v):  # (fold(None) is "")
                return None
        return norm.person_name(*values)
    value = fields.get(names[0])
    if kind == "email":
        return norm.email(value, plus_addressing=key.plus_addressing)
    if kind == "email_domain":
        return norm.email_domain(value, shared=shared)
    if kind == "website_domain":
        return norm.website_domain(value)
    if kind == "phone":
        return norm.phone(value, key.region)
    return norm.company_name(value)


def rule_score(rule: MatchRule, obj: str, fields: Mapping[str, Any], cand: Candidate,
               shared: frozenset[str] = frozenset(), pool: CandidatePool | None = None,
               mine_of: Mapping[int, str | None] | None = None) -> float | None:
    """The rule's score for one candidate (its weakest key), or None when a key disagrees.
    ``mine_of`` holds the proposal's key values by key position when already computed."""
    worst = 100.0
    for n, key in enumerate(rule.keys):
        mine = mine_of[n] if mine_of is not None else key_value(key, key.fields, fields, shared)
        theirs = pool.value(key, cand, shared) if pool is not None else \
            key_value(key, key.fields_on(cand.object), cand.fields, shared)
        if mine is None or theirs is None:
            return None
        if key.kind in FUZZY_KINDS:
            compare = norm.person_similarity if key.kind == "person_name" else norm.similarity
            score = 100.0 if mine == theirs else compare(mine, theirs)
            if score < key.cutoff:
                return None
        elif mine != theirs:
            return None
        else:
            score = 100.0
        worst = min(worst, score)
    return worst


def find_matches(obj: str, fields: Mapping[str, Any], section: MatchingSection,
                 candidates: Iterable[Candidate] | CandidatePool) -> MatchResult:
    """Every rule of ``section`` that matches one of ``candidates`` (see the module docstring)."""
    pool = candidates if isinstance(candidates, CandidatePool) else CandidatePool(candidates)
    shared = section.shared_set
    matches: list[RuleMatch] = []
    for rule in section.rules:
        mine: dict[int, str | None] = {}
        for n, key in enumerate(rule.keys):  # stops at the first key the proposal lacks
            value = key_value(key, key.fields, fields, shared)
            if value is None:
                break
            mine[n] = value
        else:  # (a proposal lacking a key this rule needs cannot match anything)
            scored = _scored(rule, pool.shortlist(rule, obj, fields, shared, mine), pool, shared, mine)
            if scored:
                # best first; existing records before batch neighbours on a tie, then by id for stable output
                scored.sort(key=lambda s: (-s.score, s.in_batch, s.id))
                matches.append(RuleMatch(rule.id, rule.action, tuple(scored), rule.overwrite))
    return MatchResult(obj, tuple(matches))


def _scored(rule: MatchRule, shortlist: list[Candidate], pool: CandidatePool, shared: frozenset[str],
            mine: Mapping[int, str]) -> list[Scored]:
    """:func:`rule_score` for each candidate of ``shortlist`` that matches, given every key's value
    of the proposal (``mine``): the same scores, with what depends on the rule alone worked out once."""
    plan = rule.plans.get(_SCORING)
    if plan is None:  # per key: its position, how to compare (None: equal or not) and its cutoff
        plan = rule.plans[_SCORING] = tuple(
            (n, key, (norm.person_similarity_from if key.kind == "person_name" else _similarity_from)
             if key.kind in FUZZY_KINDS else None, key.cutoff) for n, key in enumerate(rule.keys))
    tables: list[dict[str, dict[tuple[str, bool], str | None]]] = [{} for _ in plan]  # per key, by object
    out: list[Scored] = []
    for cand in shortlist:
        obj, ck = cand.object, (cand.id, cand.in_batch)
        worst = 100.0
        for n, key, compare, cutoff in plan:
            # pool.value(key, cand, shared), read from the pool's table without a call per read
            values = tables[n].get(obj)
            if values is None:
                values = tables[n][obj] = pool.values_of(key, obj, shared)
            theirs = values.get(ck, _UNREAD)
            if theirs is _UNREAD:
                theirs = values[ck] = key_value(key, key.fields_on(obj), cand.fields, shared)
            ours = mine[n]
            if theirs is None:
                break
            if compare is None:
                if ours != theirs:
                    break
                continue  # (100: no lower than worst)
            score = 100.0 if ours == theirs else compare(ours, theirs, cutoff)
            if score is None or score < cutoff:
                break
            if score < worst:
                worst = score
        else:
            out.append(Scored(cand.object, cand.id, worst, cand.in_batch))
    return out


def _similarity_from(a: str, b: str, cutoff: float) -> float | None:
    return norm.similarity(a, b)


_UNREAD = object()
_SCORING = "scoring"  # (MatchRule.plans: the scoring plan's entry, beside the shortlists' (object, shared) ones)


class CandidatePool:
    """Candidates with their normalised key values computed once, indexed so a proposal is compared
    only with records that can match: an equal exact key, or a fuzzy name starting with the same
    letter (the CRM look-up asks by prefix, so a name that differs there is never a candidate).
    Creates earlier in the batch are added with :meth:`add` and compared when the rule has an exact
    anchor they share (an exact key must be equal to match, so no match is lost), else always."""

    def __init__(self, candidates: Iterable[Candidate] = ()) -> None:
        self.items = list(candidates)
        self.batch: list[Candidate] = []
        # key values by what they depend on: (object, kind, fields read, options, shared domains),
        # then (id, in_batch); keys with the same content (two rules' person_name) share one
        self._values: dict[tuple[Any, ...], dict[tuple[str, bool], str | None]] = {}
        # per (key, object, shared domains): that key's entry of _values (the key kept: ids stay unique)
        self._by_key: dict[tuple[int, str, frozenset[str]], tuple[MatchKey, dict[tuple[str, bool], str | None]]] = {}
        self._index: dict[tuple[Any, ...], dict[str, list[Candidate]]] = {}
        # per exact anchor: the batch creates indexed so far (how many, and by value); without it
        # a batch of N creates compared each one with every create before it, N*N/2 comparisons
        self._batch_index: dict[tuple[Any, ...], tuple[list[int], dict[str, list[Candidate]]]] = {}

    def add(self, cand: Candidate) -> None:
        self.batch.append(cand)

    def values_of(self, key: MatchKey, obj: str, shared: frozenset[str]) -> dict[tuple[str, bool], str | None]:
        """The values of ``key`` read so far on candidates of ``obj``, by (id, in_batch)."""
        found = self._by_key.get((id(key), obj, shared))
        if found is None:
            sig = (obj, key.kind, tuple(key.fields_on(obj)), key.plus_addressing, key.region, shared)
            found = self._by_key[(id(key), obj, shared)] = (key, self._values.setdefault(sig, {}))
        return found[1]

    def value(self, key: MatchKey, cand: Candidate, shared: frozenset[str]) -> str | None:
        """``key``'s normalised value on ``cand``, read once per pool."""
        values = self.values_of(key, cand.object, shared)
        k = (cand.id, cand.in_batch)
        if k in values:
            return values[k]
        v = values[k] = key_value(key, key.fields_on(cand.object), cand.fields, shared)
        return v

    def shortlist(self, rule: MatchRule, obj: str, fields: Mapping[str, Any],
                  shared: frozenset[str], mine_of: Mapping[int, str | None] | None = None) -> list[Candidate]:
        """The candidates ``rule`` may match for a proposal of ``obj``; ``mine_of``: the proposal's
        key values by key position, when already computed."""
        plan = rule.plans.get((obj, shared))
        if plan is None:  # what depends on the rule alone: once per rulebook (the rule is frozen)
            targets = set(rule.targets(obj))
            at = next((n for n, k in enumerate(rule.keys) if k.kind in _EXACT_ANCHORS), None)
            if at is None:
                at = next((n for n, k in enumerate(rule.keys) if k.kind in FUZZY_KINDS), None)
            anchor = None if at is None else rule.keys[at]
            ix = None if anchor is None else \
                (rule.id, obj, anchor.kind, tuple(anchor.fields), anchor.plus_addressing, anchor.region, shared)
            plan = rule.plans[(obj, shared)] = (targets, at, anchor, ix)
        targets, at, anchor, ix_key = plan
        fuzzy = anchor is None or anchor.kind in FUZZY_KINDS
        near = [c for c in self.batch if c.object in targets] if fuzzy else []
        if anchor is None:
            return [c for c in self.items if c.object in targets] + near
        index = self._index.get(ix_key)
        if index is None:
            index = defaultdict(list)
            for c in self.items:
                if c.object in targets:
                    v = self.value(anchor, c, shared)
                    if v:
                        index[v[:1] if fuzzy else v].append(c)
            self._index[ix_key] = index
        mine = mine_of[at] if mine_of is not None and at in mine_of else \
            key_value(anchor, anchor.fields, fields, shared)
        if not mine:
            return near  # an exact anchor the proposal lacks: rule_score matches nothing
        if not fuzzy:
            near = self._batch_near(anchor, ix_key, targets, mine, shared)
        return index.get(mine[:1] if fuzzy else mine, []) + near

    def _batch_near(self, anchor: MatchKey, ix_key: tuple[Any, ...], targets: set[str], mine: str,
                    shared: frozenset[str]) -> list[Candidate]:
        """The batch creates whose exact ``anchor`` value equals ``mine``, in batch order."""
        found = self._batch_index.get(ix_key)
        if found is None:
            found = self._batch_index[ix_key] = ([0], defaultdict(list))
        done, index = found
        for c in self.batch[done[0]:]:
            if c.object in targets:
                # each batch create is indexed once: computed directly, not through value()'s cache
                v = key_value(anchor, anchor.fields_on(c.object), c.fields, shared)
                if v:
                    index[v].append(c)
        done[0] = len(self.batch)
        return list(index.get(mine, ()))


def candidate_queries(obj: str, section: MatchingSection,
                      proposals: Iterable[Mapping[str, Any]]) -> dict[str, CandidateQuery]:
    """Per candidate object, the exact values and prefixes that find every possible match of the
    proposals' ``fields`` (one query per object for a whole batch)."""
    return {target: CandidateQuery({f: tuple(v) for f, v in equals.items()}, {f: tuple(v) for f, v in starts.items()})
            for target, (equals, starts) in candidate_asks(obj, section, proposals).items()}


Asks = dict[str, tuple[dict[str, list[str]], dict[str, list[str]]]]


def candidate_asks(obj: str, section: MatchingSection, proposals: Iterable[Mapping[str, Any]]) -> Asks:
    """:func:`candidate_queries` as the adapter's ``find_candidates`` takes it: per candidate object
    (sorted), its ``(equals, prefixes)`` by field, each field's values sorted (no query objects made)."""
    planned = section.plans.get(obj)
    if planned is None:  # per rule, once per rulebook: its keys, and which field each anchor asks each target for
        rules = tuple((tuple(rule.keys), tuple((key, tuple((t, key.fields_on(t)[-1]) for t in rule.targets(obj)))
                                               for key in _anchors(rule)))
                      for rule in section.rules)
        planned = section.plans[obj] = (rules, [targets for _, asks in rules for _, targets in asks])
    plans, targets_of = planned  # (targets_of: by slot, see below)
    # per anchor of each rule (a slot), the values asked for, kept in the order each slot first
    # asked: each proposal adds to its slots' sets, the targets are filled from them at the end
    exact: dict[int, set[str]] = {}
    starts: dict[int, set[str]] = {}
    slot = 0
    for fields in proposals:
        slot = 0
        for keys, asks in plans:
            for k in keys:
                if key_value(k, k.fields, fields) is None:
                    slot += len(asks)
                    break  # a key the proposal lacks: this rule cannot match it, so nothing to ask
            else:
                for key, _ in asks:
                    exact_values, prefixes = _asked(key, fields.get(key.fields[-1]))  # the same for every target
                    if exact_values:
                        got = exact.get(slot)
                        if got is None:
                            exact[slot] = set(exact_values)
                        else:
                            got.update(exact_values)
                    if prefixes:
                        got = starts.get(slot)
                        if got is None:
                            starts[slot] = set(prefixes)
                        else:
                            got.update(prefixes)
                    slot += 1
    by_target: dict[str, tuple[dict[str, set[str]], dict[str, set[str]]]] = {}
    for at, found in ((0, exact), (1, starts)):
        for n, values in found.items():
            for target, name in targets_of[n]:
                into = by_target.setdefault(target, ({}, {}))[at]
                got = into.get(name)
                if got is None:
                    into[name] = values
                else:
                    into[name] = got | values
    return {target: ({f: sorted(v) for f, v in by_target[target][0].items()},
                     {f: sorted(v) for f, v in by_target[target][1].items()})
            for target in sorted(by_target)}


def _anchors(rule: MatchRule) -> list[MatchKey]:
    """The keys a rule asks the CRM by: its exact ones when it has some, else its fuzzy ones."""
    exact = [k for k in rule.keys if k.kind in _EXACT_ANCHORS]
    return exact or [k for k in rule.keys if k.kind in FUZZY_KINDS]


def _asked(key: MatchKey, value: Any) -> tuple[list[str], list[str]]:
    """The exact values and the prefixes that ``key`` asks for, given the proposal's ``value``."""
    if key.kind == "email":
        plain = norm.email(value)
        if plain is None:
            return [], []
        if not key.plus_addressing:
            return [plain], []
        base = norm.email(value, plus_addressing=True)
        local, _, domain = base.partition("@")  # type: ignore[union-attr]
        return [plain, base], [f"{local}+"]  # type: ignore[list-item]
    if key.kind == "phone":
        return list(norm.phone_forms(value, key.region)), []
    if key.kind == "website_domain":
        domain = norm.website_domain(value)
        return [], ([] if domain is None else list(norm.website_forms(domain)))
    if key.kind in FUZZY_KINDS:
        return [], list(norm.prefixes(value, company=key.kind == "company_name"))
    return [], []


def merge_fields(proposed: Mapping[str, Any], existing: Mapping[str, Any], *, overwrite: bool) -> dict[str, Any]:
    """The update that ``update_existing`` makes: the proposed fields the match lacks (all of them
    with ``overwrite``)."""
    def blank(v: Any) -> bool:
        return v is None or (isinstance(v, str) and not v.strip())
    return {k: v for k, v in proposed.items() if not blank(v) and (overwrite or blank(existing.get(k)))}
