"""Request validation errors in plain words: which field, and what was expected.

FastAPI reports ``body.proposals.0.object: Input should be a valid string``; a person (or a model
reading the error) needs ``proposals[0].object: expected text (a JSON string), got 5``. Bad JSON
names its line and column; a body sent without ``Content-Type: application/json`` says to send it.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

_JSON_TYPES = {dict: "an object", list: "an array", str: "text", bool: "true/false", int: "a number",
               float: "a number", type(None): "null"}

_EXPECTED = {
    "missing": "is required",
    "dict_type": "expected a JSON object ({...})",
    "model_type": "expected a JSON object ({...})",
    "model_attributes_type": "expected a JSON object ({...})",
    "list_type": "expected a JSON array ([...])",
    "string_type": "expected text (a JSON string)",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number (no decimals)",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "extra_forbidden": "is not a field this request takes: remove it",
    "finite_number": "expected a finite number (not NaN or Infinity)",
}


def field_path(loc: Iterable[Any]) -> str:
    """``("body", "proposals", 0, "object")`` -> ``proposals[0].object`` (``body`` for the whole body)."""
    parts = list(loc)
    where = parts[0] if parts else "body"
    out = ""
    for p in parts[1:]:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    if where == "body":
        return out or "body"
    return f"{where} parameter {out}" if out else str(where)


def _got(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return _JSON_TYPES[type(value)]
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def plain(err: Mapping[str, Any]) -> str:
    """One pydantic error in plain words: what was expected (and what came, when it helps)."""
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    if kind in _EXPECTED:
        words = _EXPECTED[kind]
    elif kind in ("string_too_short", "too_short", "string_too_long", "too_long"):
        n = ctx.get("min_length") if "short" in kind else ctx.get("max_length")
        unit = ("character" if kind.startswith("string") else "item") + ("" if n == 1 else "s")
        words = f"expected {'at least' if 'short' in kind else 'at most'} {n} {unit}"
        if "actual_length" in ctx:
            return f"{words}, got {ctx['actual_length']}"
    elif kind in ("literal_error", "enum"):
        words = f"expected one of {ctx.get('expected')}"
    elif kind == "string_pattern_mismatch":
        words = f"expected text matching {ctx.get('pattern')}"
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = next(iter(ctx.values()), "?")
        words = f"expected a number {kind.replace('_', ' ').replace('than equal', 'than or equal to')} {bound}"
    else:
        words = str(err.get("msg", "is not valid"))
    if kind not in ("missing", "extra_forbidden") and "input" in err and not isinstance(err["input"], bytes) \
            and not words.startswith("Value error"):
        words += f", got {_got(err['input'])}"
    return words


def line_column(body: bytes, pos: int) -> tuple[int, int]:
    """The 1-based line and column of character offset ``pos`` in ``body``."""
    text = body.decode("utf-8", errors="replace")[:pos]
    return text.count("\n") + 1, pos - (text.rfind("\n") + 1) + 1


def explain(errors: Iterable[Mapping[str, Any]], body: bytes, content_type: str | None) -> tuple[str, list[dict]]:
    """``(message, problems)`` for a request that failed validation; each problem has ``path`` and
    ``message``, and a ``hint`` where one helps."""
    problems: list[dict[str, Any]] = []
    for err in errors:
        loc = list(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            pos = loc[-1] if loc and isinstance(loc[-1], int) else 0
            line, col = line_column(body, pos)
            why = (err.get("ctx") or {}).get("error") or "JSON decode error"
            problems.append({"path": "body", "line": line, "column": col,
                             "message": f"the body is not valid JSON: {why} at line {line}, column {col}"})
            continue
        problem = {"path": field_path(loc), "message": plain(err)}
        json_sent = content_type is not None and "json" in content_type.lower()
        if loc == ["body"] and body and not json_sent:
            problem["hint"] = ("send the body with the header Content-Type: application/json"
                               + (f" (it was {content_type})" if content_type else " (it was missing)"))
        problems.append(problem)
    if not problems:
        return "invalid request", [{"path": "", "message": "invalid request"}]
    first = problems[0]
    message = first["message"] if first["path"] == "body" and "line" in first else \
        f"{first['path']}: {first['message']}"
    if first.get("hint"):
        message += f"; {first['hint']}"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    return message, problems
