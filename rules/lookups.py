"""What to ask the CRM for so every possible duplicate of a batch's creates comes back. Pure.

Per candidate object: exact values by field (normalised email, the text forms of a phone number)
and bounded prefixes by field (website forms, the first letters of a name). A rule's keys all have
to agree, so a rule asks only by its exact keys when it has some, else by its fuzzy ones; a create
lacking one of a rule's keys asks nothing for that rule. The values are the ones
:mod:`crmgate.rules.matching` compares (both read :mod:`crmgate.rules.normalise`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crmgate.rules import normalise as norm
from crmgate.rules.matching import key_value
from crmgate.rules.matching_models import EXACT_ANCHORS, FUZZY_KINDS, MatchingSection, MatchKey, MatchRule


@dataclass(frozen=True, slots=True)
class CandidateQuery:
    """What to ask one candidate object for: records whose field equals (case-insensitively) one
    of ``equals[field]`` or starts with one of ``prefixes[field]``."""

    equals: dict[str, tuple[str, ...]] = field(default_factory=dict)
    prefixes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.equals or self.prefixes)


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
    exact = [k for k in rule.keys if k.kind in EXACT_ANCHORS]
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
