"""The SOQL the duplicate guard sends, parsed and answered by the Salesforce fake.

Grammar (what Salesforce documents, restricted to what crmgate sends):
``SELECT f1, f2 FROM Obj WHERE c1 OR c2 ... LIMIT n`` where each condition is
``Field IN ('a', 'b')`` or ``Field LIKE 'pre%'``. String literals escape ``\\'`` and ``\\\\``; in LIKE,
``\\%`` and ``\\_`` are literal. Text comparisons ignore case, as in Salesforce.
"""
from __future__ import annotations

import re
from typing import Any

_HEAD = re.compile(r"^SELECT (?P<fields>[\w, ]+) FROM (?P<obj>\w+) WHERE (?P<where>.+?)(?: LIMIT (?P<limit>\d+))?$", re.S)
_LIT = r"'(?:[^'\\]|\\.)*'"
_COND = re.compile(rf"\s*(?P<field>\w+) (?:IN \((?P<values>{_LIT}(?:, ?{_LIT})*)\)|LIKE (?P<like>{_LIT}))\s*(?:OR|$)", re.S)


class SOQLError(ValueError):
    pass


def _unquote(lit: str) -> str:
    return re.sub(r"\\(.)", r"\1", lit[1:-1])


def _like_prefix(lit: str) -> str:
    body = lit[1:-1]
    if not body.endswith("%") or body.endswith("\\%"):
        raise SOQLError(f"only prefix LIKE is answered: {lit}")
    return re.sub(r"\\(.)", r"\1", body[:-1])


def parse(q: str) -> dict[str, Any]:
    m = _HEAD.match(q.strip())
    if not m:
        raise SOQLError(f"unexpected token in {q[:80]!r}")
    conds: list[tuple[str, str, Any]] = []
    where, pos = m["where"], 0
    while pos < len(where):
        c = _COND.match(where, pos)
        if not c or c.end() == pos:
            raise SOQLError(f"unexpected token near {where[pos:pos + 40]!r}")
        if c["values"] is not None:
            conds.append((c["field"], "in", [_unquote(v) for v in re.findall(_LIT, c["values"])]))
        else:
            conds.append((c["field"], "like", _like_prefix(c["like"])))
        pos = c.end()
    return {"fields": [f.strip() for f in m["fields"].split(",")], "object": m["obj"], "where": conds,
            "limit": int(m["limit"]) if m["limit"] else None}


def matches(fields: dict[str, Any], where: list[tuple[str, str, Any]]) -> bool:
    for field, op, arg in where:
        value = fields.get(field)
        if not isinstance(value, str):
            continue
        if op == "in" and value.casefold() in {a.casefold() for a in arg}:
            return True
        if op == "like" and value.casefold().startswith(arg.casefold()):
            return True
    return False
