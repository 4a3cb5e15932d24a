"""The ``matching:`` rulebook section (duplicate rules per object) and its cross-reference checks."""
from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any, Literal

import phonenumbers
from pydantic import Field

from crmgate.rules.conditions import Loc
from crmgate.rules.fields import ObjectSchema
from crmgate.rules.model import Model

KeyKind = Literal["email", "email_domain", "website_domain", "phone", "company_name", "person_name"]
MatchAction = Literal["block", "queue", "update_existing"]
FUZZY_KINDS = frozenset({"company_name", "person_name"})
#: the kinds a rule asks the CRM by (and indexes candidates by) when it has one: equal or nothing
EXACT_ANCHORS = ("email", "phone", "website_domain")
#: kinds that can find candidates on their own (email_domain only narrows what another key found)
ANCHOR_KINDS = frozenset({"email", "website_domain", "phone", "company_name", "person_name"})
DEFAULT_THRESHOLD = 90.0


class MatchKey(Model):
    """One comparison; every key of a rule must agree for the rule to match."""

    kind: KeyKind
    #: the proposal object's field(s); person_name takes [first, last] or one full-name field
    fields: list[str] = Field(min_length=1, max_length=2)
    #: the same value's field(s) on a candidate object, when named differently there
    against_fields: dict[str, list[str]] = Field(default_factory=dict)
    #: fuzzy kinds: the rapidfuzz score (0-100) at or above which two names are the same
    threshold: float | None = Field(default=None, ge=50, le=100)
    #: email: ``name+tag@x`` is the same mailbox as ``name@x``
    plus_addressing: bool = False
    #: phone: the region assumed for numbers written without ``+`` (ISO 3166 code, e.g. US, DE)
    region: str | None = None

    def fields_on(self, obj: str) -> list[str]:
        return self.against_fields.get(obj, self.fields)

    @property
    def cutoff(self) -> float:
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLD


class MatchRule(Model):
    """A duplicate rule: compare a new record with ``against`` objects' records; ``action`` on a match."""

    id: str = Field(min_length=1)
    against: list[str] = Field(default_factory=list)  # empty: the object itself
    keys: list[MatchKey] = Field(min_length=1)
    action: MatchAction
    #: update_existing: also replace fields the match already has (default: fill empty fields only)
    overwrite: bool = False

    def targets(self, obj: str) -> list[str]:
        return self.against or [obj]

    @cached_property
    def plans(self) -> dict[Any, Any]:
        """What :mod:`crmgate.rules.matching` works out of this rule alone, on first use (the rule
        is frozen): per (proposal object, shared domains) its shortlist plan, and its scoring plan."""
        return {}


class MatchingSection(Model):
    """One object's duplicate rules, in order: the first rule that matches decides."""

    rules: list[MatchRule] = Field(min_length=1)
    #: more domains that never match on email domain (your own, a parent group's shared one)
    shared_domains: list[str] = Field(default_factory=list)

    @cached_property
    def plans(self) -> dict[str, Any]:
        """Per proposal object, what :func:`crmgate.rules.lookups.candidate_asks` asks of each
        rule, worked out on first use (the section is frozen)."""
        return {}

    @cached_property
    def shared_set(self) -> frozenset[str]:
        """:attr:`shared_domains` case-folded, as a set: computed once, not per proposal."""
        return frozenset(d.casefold() for d in self.shared_domains)


def _unknown(kind: str, name: str, known: object) -> str:
    return f"expected a known {kind} ({', '.join(known)}); got {name!r}"  # type: ignore[call-overload]


def matching_problems(matching: Mapping[str, MatchingSection],
                      objects: Mapping[str, ObjectSchema]) -> list[tuple[Loc, str]]:
    """Objects and fields named exist; ids unique per object; options fit their key kind; each
    rule has a key that can find candidates; ``update_existing`` only against the object itself."""
    problems: list[tuple[Loc, str]] = []
    for obj_name, section in matching.items():
        loc: Loc = ("matching", obj_name)
        if obj_name not in objects:
            problems.append((loc, _unknown("object", obj_name, objects)))
            continue
        ids: set[str] = set()
        for i, rule in enumerate(section.rules):
            rloc = loc + ("rules", i)
            if rule.id in ids:
                problems.append((rloc + ("id",), f"expected a unique id; {rule.id!r} is used twice"))
            ids.add(rule.id)
            problems += _rule_problems(rloc, obj_name, rule, objects)
    return problems


def _rule_problems(loc: Loc, obj_name: str, rule: MatchRule, objects: Mapping[str, ObjectSchema]) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    for j, target in enumerate(rule.against):
        if target not in objects:
            problems.append((loc + ("against", j), _unknown("object", target, objects)))
    if not any(k.kind in ANCHOR_KINDS for k in rule.keys):
        problems.append((loc + ("keys",), "expected at least one key of kind email, website_domain, phone, "
                                          "company_name or person_name (email_domain alone finds no candidates)"))
    if rule.overwrite and rule.action != "update_existing":
        problems.append((loc + ("overwrite",), f"overwrite is only allowed with action update_existing; got {rule.action}"))
    if rule.action == "update_existing" and rule.targets(obj_name) != [obj_name]:
        problems.append((loc + ("against",), f"update_existing turns the create into an update of the match, "
                                             f"so it can only match {obj_name} records"))
    targets = [t for t in rule.targets(obj_name) if t in objects]
    for k, key in enumerate(rule.keys):
        kloc = loc + ("keys", k)
        if key.kind != "person_name" and len(key.fields) != 1:
            problems.append((kloc + ("fields",), f"a {key.kind} key compares one field; got {len(key.fields)}"))
        if key.threshold is not None and key.kind not in FUZZY_KINDS:
            problems.append((kloc + ("threshold",), f"threshold is only for company_name and person_name keys; got {key.kind}"))
        if key.plus_addressing and key.kind != "email":
            problems.append((kloc + ("plus_addressing",), f"plus_addressing is only for email keys; got {key.kind}"))
        if key.region is not None and (key.kind != "phone" or key.region not in phonenumbers.SUPPORTED_REGIONS):
            problems.append((kloc + ("region",), "region is only for phone keys and must be a region code such as "
                                                 f"US or DE; got {key.region!r}"))
        problems += [(kloc + ("fields", j), _unknown(f"field of {obj_name}", f, objects[obj_name].fields))
                     for j, f in enumerate(key.fields) if f not in objects[obj_name].fields]
        for target, names in key.against_fields.items():
            if target not in targets:
                problems.append((kloc + ("against_fields", target), f"expected one of the rule's objects "
                                                                    f"({', '.join(targets)}); got {target!r}"))
            elif len(names) != len(key.fields):
                problems.append((kloc + ("against_fields", target), f"expected {len(key.fields)} field(s); got {len(names)}"))
        for target in targets:
            problems += [(kloc + ("against_fields", target, j) if target in key.against_fields else kloc + ("fields", j),
                          _unknown(f"field of {target}", f, objects[target].fields))
                         for j, f in enumerate(key.fields_on(target)) if f not in objects[target].fields
                         and (target in key.against_fields or target != obj_name)]
    return problems
