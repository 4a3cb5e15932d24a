"""Cross-reference checks for the ``routing:`` and ``enrichment:`` rulebook sections."""
from __future__ import annotations

from collections.abc import Mapping

from crmgate.rules.conditions import Loc, check_when
from crmgate.rules.enrichment_models import EnrichmentSection, UseDefault
from crmgate.rules.fields import ObjectSchema, check_value
from crmgate.rules.routing import RoutingSection


def _unknown(kind: str, name: str, known) -> str:  # noqa: ANN001
    return f"expected a known {kind} ({', '.join(known)}); got {name!r}"


def routing_problems(routing: Mapping[str, RoutingSection],
                     objects: Mapping[str, ObjectSchema]) -> list[tuple[Loc, str]]:
    """Objects, fields and pools named by routing sections exist; ids are unique; at most one
    live (non-shadow) section per object; the routed field is not required (routing fills it
    after validation); the default is a fixed owner (a pool could be full)."""
    problems: list[tuple[Loc, str]] = []
    live: dict[str, str] = {}
    for name, section in routing.items():
        loc: Loc = ("routing", name)
        obj_name = section.object or name
        if obj_name not in objects:
            problems.append((loc + ("object",) if section.object else loc,
                             _unknown("object", obj_name, objects)))
            continue
        obj = objects[obj_name]
        if not section.shadow:
            if obj_name in live:
                problems.append((loc + ("shadow",), f"{obj_name} already has a live routing section "
                                                    f"({live[obj_name]}); mark this one shadow: true"))
            live[obj_name] = name
        if section.field not in obj.fields:
            problems.append((loc + ("field",), _unknown(f"field of {obj_name}", section.field, obj.fields)))
        elif obj.fields[section.field].required:
            problems.append((loc + ("field",), f"{section.field} is routed, so it must not be required "
                                               f"in objects.{obj_name} (routing fills it after validation)"))
        ids: set[str] = set()
        for kind, items in (("guardrails", section.guardrails), ("rules", section.rules)):
            for i, item in enumerate(items):
                iloc = loc + (kind, i)
                if item.id in ids:
                    problems.append((iloc + ("id",), f"expected a unique id; {item.id!r} is used twice"))
                ids.add(item.id)
                problems += [(iloc + ("when",) + sub, msg) for sub, msg in check_when(item.when)]
                problems += [(iloc + ("when", f), _unknown(f"field of {obj_name}", f, obj.fields))
                             for f in item.when if f not in obj.fields]
                pool = getattr(item.assign, "pool", None)
                if pool is not None and pool not in section.pools:
                    problems.append((iloc + ("assign", "pool"),
                                     _unknown("pool", pool, section.pools or ["none defined"])))
        if section.default.pool is not None:
            problems.append((loc + ("default",), "expected {owner: ...}: the default must always have room"))
        for pname, pool in section.pools.items():
            seen = [m.id for m in pool.members]
            if len(set(seen)) != len(seen):
                problems.append((loc + ("pools", pname, "members"), "expected unique member ids; got duplicates"))
    return problems


def enrichment_problems(enrichment: Mapping[str, EnrichmentSection],
                        objects: Mapping[str, ObjectSchema]) -> list[tuple[Loc, str]]:
    """Enriched objects and fields exist, and every ``default`` is a valid value for its field."""
    problems: list[tuple[Loc, str]] = []
    for obj_name, section in enrichment.items():
        loc: Loc = ("enrichment", obj_name)
        if obj_name not in objects:
            problems.append((loc, _unknown("object", obj_name, objects)))
            continue
        obj = objects[obj_name]
        for fname, policy in section.fields.items():
            floc = loc + ("fields", fname)
            if fname not in obj.fields:
                problems.append((floc, _unknown(f"field of {obj_name}", fname, obj.fields)))
            elif isinstance(policy.on_failure, UseDefault):
                bad = check_value(obj_name, fname, obj.fields[fname], policy.on_failure.default)
                if bad is not None:
                    problems.append((floc + ("on_failure", "default"), bad.message))
    return problems
