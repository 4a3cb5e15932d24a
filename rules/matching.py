"""The duplicate matcher: is a proposed new record already in the CRM (or earlier in this batch)? Pure.

Built on :mod:`crmgate.rules.normalise`; what to ask the CRM for is :mod:`crmgate.rules.lookups`.

* :func:`find_matches` compares a proposal's fields with candidate records. A rule matches a
  candidate when every key agrees: exact keys on equal normalised values, fuzzy keys at or above
  their threshold (rapidfuzz). The rule's score for a candidate is its weakest key's score. Every
  matching rule is reported, in rule order; the FIRST one decides the action.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from crmgate.rules import normalise as norm
from crmgate.rules.matching_models import EXACT_ANCHORS, FUZZY_KINDS, MatchingSection, MatchKey, MatchRule


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
        self._lengths: dict[tuple[Any, ...], dict[str, list[int]]] = {}
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
            at = next((n for n, k in enumerate(rule.keys) if k.kind in EXACT_ANCHORS), None)
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
            lengths: dict[str, list[int]] = defaultdict(list)  # (person names: each one's length, in step)
            for c in self.items:
                if c.object in targets:
                    v = self.value(anchor, c, shared)
                    if v:
                        index[v[:1] if fuzzy else v].append(c)
                        lengths[v[:1]].append(len(v))
            self._index[ix_key] = index
            self._lengths[ix_key] = lengths
        mine = mine_of[at] if mine_of is not None and at in mine_of else \
            key_value(anchor, anchor.fields, fields, shared)
        if not mine:
            return near  # an exact anchor the proposal lacks: rule_score matches nothing
        if not fuzzy:
            near = self._batch_near(anchor, ix_key, targets, mine, shared)
            return index.get(mine, []) + near
        bucket = index.get(mine[:1], [])
        if bucket and anchor.kind == "person_name":
            # a name longer or shorter by more than the cutoff allows cannot reach it: every letter
            # more or less is an edit, over at most the longer name's letters (see person_similarity)
            mine_len, cutoff = len(mine), anchor.cutoff
            bucket = [c for c, n in zip(bucket, self._lengths[ix_key][mine[:1]])
                      if 100.0 * (1 - abs(mine_len - n) / max(mine_len, n)) + 1e-9 >= cutoff]
        return bucket + near

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


def merge_fields(proposed: Mapping[str, Any], existing: Mapping[str, Any], *, overwrite: bool) -> dict[str, Any]:
    """The update that ``update_existing`` makes: the proposed fields the match lacks (all of them
    with ``overwrite``)."""
    def blank(v: Any) -> bool:
        return v is None or (isinstance(v, str) and not v.strip())
    return {k: v for k, v in proposed.items() if not blank(v) and (overwrite or blank(existing.get(k)))}
