"""Parsing proposals from JSON: one object, an array, or JSON Lines. All or nothing.

Malformed input raises :class:`ProposalError` naming every bad proposal (its index, and its line for
JSON Lines), the path of the bad key and what was expected; no proposal of the input is processed.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from crmgate.errors import ProposalError
from crmgate.rules.proposal import Proposal


def parse_text(text: str) -> list[Proposal]:
    """Parse one JSON proposal, a JSON array of proposals, or JSON Lines."""
    stripped = text.strip()
    if not stripped:
        raise ProposalError("no proposal given: the input is empty")
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        items, lines = _json_lines(stripped)
        return coerce(items, lines=lines)
    items = value if isinstance(value, list) else [value]
    return coerce(items)


def _json_lines(text: str) -> tuple[list[Any], list[int]]:
    items, lines = [], []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ProposalError(f"line {n}: not valid JSON: {exc.msg} (column {exc.colno})",
                                code="invalid_json",
                                details={"problems": [{"line": n, "message": exc.msg}]}) from None
        lines.append(n)
    return items, lines


def coerce(items: Iterable[Any], *, lines: list[int] | None = None) -> list[Proposal]:
    """Turn dicts (or Proposals) into Proposals, or raise one ProposalError listing every problem."""
    out: list[Proposal] = []
    problems: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        where: dict[str, Any] = {"index": i}
        if lines:
            where["line"] = lines[i]
        if isinstance(item, Proposal):
            out.append(item)
            continue
        if not isinstance(item, Mapping):
            problems.append({**where, "path": "", "message": f"expected a JSON object, got {type(item).__name__}"})
            continue
        try:
            out.append(Proposal.model_validate(dict(item)))
        except ValidationError as exc:
            for err in exc.errors():
                path = ".".join(str(p) for p in err["loc"])
                problems.append({**where, "path": path, "message": err["msg"]})
    if problems:
        first = problems[0]
        at = f"proposal {first['index']}" + (f" (line {first['line']})" if "line" in first else "")
        path = f" {first['path']}:" if first["path"] else ""
        raise ProposalError(f"{at}:{path} {first['message']}"
                            + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""),
                            details={"problems": problems})
    if not out:
        raise ProposalError("no proposal given: the input holds an empty list")
    return out
