"""The rulebook: a declarative description of what AI workflows may change, and how risky it is.

Every model is frozen, strict and forbids unknown keys, so a typo in the YAML is an error rather
than a silently ignored rule. Shape is checked by pydantic; meaning (fields that must exist,
options that only fit some field types) is checked by :func:`semantic_problems`, which the
:class:`Rulebook` validator runs and the loader turns into precise, located problems.
"""
from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from crmgate.rules.conditions import Loc, check_when, values_equal
from crmgate.rules.enrichment_models import EnrichmentSection
from crmgate.rules.fields import FieldSpec, FieldType, ObjectSchema, RequiredWhen  # noqa: F401 (re-exported)
from crmgate.rules.matching_models import MatchingSection, matching_problems
from crmgate.rules.model import Model
from crmgate.rules.routing import RoutingSection
from crmgate.rules.section_checks import enrichment_problems, routing_problems

Tier = Literal["low", "medium", "high", "critical"]
TierAction = Literal["apply", "approve", "block"]
OpName = Literal["create", "update", "delete"]
Mode = Literal["enforce", "suggest", "shadow"]

TIERS: tuple[str, ...] = ("low", "medium", "high", "critical")  # ordered, lowest first
TIER_RANK: dict[str, int] = {tier: rank for rank, tier in enumerate(TIERS)}
_STRING_LIKE = frozenset({"string", "email", "reference"})
_NUMERIC = frozenset({"number", "integer"})

SEMANTIC_ERROR = "rulebook_semantics"  # pydantic error type carrying located problems in ctx


_Model = Model


class TierActions(_Model):
    """What each risk tier leads to; every tier must be mapped."""

    low: TierAction
    medium: TierAction
    high: TierAction
    critical: TierAction


class RiskRule(_Model):
    """A risk rule; its criteria combine with AND (see :mod:`crmgate.rules.risk`)."""

    id: str | None = Field(default=None, min_length=1)
    object: str | None = None
    field: str | None = None
    fields: list[str] | None = Field(default=None, min_length=1)
    op: OpName | None = None
    to: list[Any] | None = Field(default=None, min_length=1)
    change_over_pct: float | None = Field(default=None, ge=0)
    tier: Tier

    @property
    def field_list(self) -> tuple[str, ...]:
        """``field`` and ``fields`` as one tuple, in file order (empty when neither is given)."""
        return ((self.field,) if self.field else ()) + tuple(self.fields or ())


class RiskPolicy(_Model):
    """Default tier, tier -> action mapping and the ordered risk rules."""

    default: Tier = "low"
    tiers: TierActions
    rules: list[RiskRule] = Field(default_factory=list)
    #: who may approve a change queued at a tier (fnmatch globs over the approver's name); a tier
    #: not listed here falls back to the use case's ``approvers``, then to anyone who is not an AI
    approvers: dict[Tier, list[str]] = Field(default_factory=dict)

    @cached_property
    def compiled(self) -> tuple[tuple[str, RiskRule, tuple[str, ...]], ...]:
        """Each rule with its id and :attr:`~RiskRule.field_list`, computed once rather than per proposal."""
        return tuple((rule.id or f"risk.rules[{i}]", rule, rule.field_list) for i, rule in enumerate(self.rules))


class ObjectGrant(_Model):
    """What a use case may do to one object."""

    ops: list[OpName] = Field(min_length=1)
    fields: list[str] = Field(default_factory=list)

    @cached_property
    def field_set(self) -> frozenset[str]:
        """:attr:`fields` as a set, for the per-proposal membership tests."""
        return frozenset(self.fields)


class UseCase(_Model):
    """A named AI workflow: who runs it, how it is enforced and what it may touch."""

    description: str | None = None
    actors: list[str] = Field(min_length=1)
    mode: Mode = "enforce"
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    allow: dict[str, ObjectGrant] = Field(default_factory=dict)
    #: who may approve this use case's queued changes (fnmatch globs); empty: anyone not an AI
    approvers: list[str] = Field(default_factory=list)


class Rulebook(_Model):
    """The whole rulebook. ``version_hash`` names this exact rule version in the trail."""

    version: Literal[1]
    objects: dict[str, ObjectSchema]
    risk: RiskPolicy
    use_cases: dict[str, UseCase] = Field(default_factory=dict)
    routing: dict[str, RoutingSection] = Field(default_factory=dict)
    enrichment: dict[str, EnrichmentSection] = Field(default_factory=dict)
    #: duplicate rules per object (see :mod:`crmgate.rules.matching`)
    matching: dict[str, MatchingSection] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_semantics(self) -> Rulebook:
        problems = semantic_problems(self)
        if problems:
            summary = "; ".join(f"{format_loc(loc)}: {msg}" for loc, msg in problems)
            raise PydanticCustomError(SEMANTIC_ERROR, "{summary}",
                                      {"summary": summary, "problems": tuple(problems)})
        return self

    @cached_property
    def memo(self) -> dict[Any, Any]:
        """Answers of pure look-ups on this (frozen) rulebook, kept as they are first asked for:
        which use case an actor's proposal runs under is the same for its thousandth proposal."""
        return {}

    @cached_property
    def version_hash(self) -> str:
        """sha256 hex of the canonical JSON (sorted keys) of the model dump."""
        dumped = self.model_dump(mode="json")
        if not dumped["matching"]:  # rulebooks written before matching existed keep their hash
            del dumped["matching"]
        canonical = json.dumps(dumped, sort_keys=True,
                               separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def format_loc(loc: Loc) -> str:
    """``("risk", "rules", 2, "tier")`` -> ``"risk.rules[2].tier"``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def semantic_problems(rb: Rulebook) -> list[tuple[Loc, str]]:
    """Every cross-reference and type/option mismatch in ``rb``, as ``(location, message)``.

    Checked: field options fit the field type (``values`` only and always on picklists,
    ``max_length`` on string-like types, ``min``/``max`` on numeric ones); every field named in
    ``required_when``, ``when``, ``allow`` and risk rules exists; risk rules name known objects,
    are not empty, use ``to``/``change_over_pct`` only with fields, and ``to`` values of
    picklists are among the picklist's values.
    """
    problems: list[tuple[Loc, str]] = []
    for name, obj in rb.objects.items():
        problems += _object_problems(("objects", name), obj)
    for i, rule in enumerate(rb.risk.rules):
        problems += _risk_rule_problems(("risk", "rules", i), rule, rb)
    for uc_name, uc in rb.use_cases.items():
        for j, pattern in enumerate(uc.actors):
            if not pattern.strip():
                problems.append((("use_cases", uc_name, "actors", j),
                                 "expected a non-empty actor pattern; got ''"))
        for obj_name, grant in uc.allow.items():
            loc = ("use_cases", uc_name, "allow", obj_name)
            if obj_name not in rb.objects:
                problems.append((loc, _unknown("object", obj_name, rb.objects)))
                continue
            problems += _fields_exist(loc + ("fields",), grant.fields, obj_name, rb.objects[obj_name])
    return (problems + routing_problems(rb.routing, rb.objects)
            + enrichment_problems(rb.enrichment, rb.objects) + matching_problems(rb.matching, rb.objects))


def _unknown(kind: str, name: str, known: Any) -> str:
    return f"expected a known {kind} ({', '.join(known)}); got {name!r}"


def _fields_exist(loc: Loc, names: list[str], obj_name: str, obj: ObjectSchema) -> list[tuple[Loc, str]]:
    return [(loc + (j,), _unknown(f"field of {obj_name}", f, obj.fields))
            for j, f in enumerate(names) if f not in obj.fields]


def _object_problems(loc: Loc, obj: ObjectSchema) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    for fname, spec in obj.fields.items():
        floc = loc + ("fields", fname)
        if spec.type == "picklist" and not spec.values:
            problems.append((floc + ("values",), "picklist fields need a non-empty list of values; got none"))
        if spec.type != "picklist" and spec.values is not None:
            problems.append((floc + ("values",), f"values are only allowed on picklist fields; got type {spec.type}"))
        if spec.values and len(set(spec.values)) != len(spec.values):
            problems.append((floc + ("values",), "expected unique values; got duplicates"))
        if spec.max_length is not None and spec.type not in _STRING_LIKE:
            problems.append((floc + ("max_length",), f"max_length is only allowed on string, email and reference fields; got type {spec.type}"))
        for bound in ("min", "max"):
            if getattr(spec, bound) is not None and spec.type not in _NUMERIC:
                problems.append((floc + (bound,), f"{bound} is only allowed on number and integer fields; got type {spec.type}"))
        if spec.min is not None and spec.max is not None and spec.min > spec.max:
            problems.append((floc + ("max",), f"expected max >= min ({spec.min}); got {spec.max}"))
    name = str(loc[-1])
    for i, rw in enumerate(obj.required_when):
        rloc = loc + ("required_when", i)
        problems += [(rloc + ("when",) + sub, msg) for sub, msg in check_when(rw.when)]
        problems += [(rloc + ("when", f), _unknown(f"field of {name}", f, obj.fields))
                     for f in rw.when if f not in obj.fields]
        problems += _fields_exist(rloc + ("fields",), rw.fields, name, obj)
    return problems


def _risk_rule_problems(loc: Loc, rule: RiskRule, rb: Rulebook) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    if rule.object is not None and rule.object not in rb.objects:
        return [(loc + ("object",), _unknown("object", rule.object, rb.objects))]
    if rule.field is not None and rule.fields is not None:
        problems.append((loc + ("fields",), "expected either field or fields; got both"))
    if not (rule.object or rule.op or rule.field_list):
        problems.append((loc, "expected at least one of object, op, field, fields "
                              "(use risk.default for a catch-all); got none"))
    for key in ("to", "change_over_pct"):
        if getattr(rule, key) is not None and not rule.field_list:
            problems.append((loc + (key,), f"{key} needs field or fields; got neither"))
    # Without `object` a field may belong to any object; it must exist in at least one.
    scope = {rule.object: rb.objects[rule.object]} if rule.object else dict(rb.objects)
    named = [(("field",), rule.field)] if rule.field else []
    named += [(("fields", j), f) for j, f in enumerate(rule.fields or [])]
    for sub, fname in named:
        specs = [o.fields[fname] for o in scope.values() if fname in o.fields]
        if not specs:
            where = f"field of {rule.object}" if rule.object else "field of any object"
            known = sorted({f for o in scope.values() for f in o.fields})
            problems.append((loc + sub, _unknown(where, fname, known)))
            continue
        if rule.change_over_pct is not None and any(s.type not in _NUMERIC for s in specs):
            problems.append((loc + ("change_over_pct",), f"change_over_pct needs a number or integer field; {fname} is not"))
        for k, value in enumerate(rule.to or []):
            for spec in specs:
                if spec.type == "picklist" and not any(values_equal(value, v) for v in spec.values or []):
                    problems.append((loc + ("to", k), f"expected one of {', '.join(spec.values or [])}; got {value!r}"))
                    break
    return problems
