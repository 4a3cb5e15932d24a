"""Parsing proposals from JSON: one object, an array, or JSON Lines. All or nothing.

Malformed input raises :class:`ProposalError` naming every bad proposal (its index, and its line for
JSON Lines), the path of the bad key and what was expected; no proposal of the input is processed.
"""
from __future__ import annotations

import gc
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError

from crmgate.errors import ProposalError
from crmgate.rules.proposal import OP_TEXT, TEXT_CHECKED, Op, Proposal

MAX_DEPTH = 64  # nesting deeper than this is refused: no proposal needs it, and parsers recurse


def parse_text(text: str | bytes) -> list[Proposal]:
    """Parse one JSON proposal, a JSON array of proposals, or JSON Lines (text, or UTF-8 bytes)."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ProposalError(f"the input is not UTF-8 text (byte {exc.start}): send JSON encoded as UTF-8",
                                code="invalid_json") from None
    stripped = text.strip()
    if not stripped:
        raise ProposalError("no proposal given: the input is empty")
    try:
        value = _loads(stripped)
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
            items.append(_loads(line))
        except json.JSONDecodeError as exc:
            raise ProposalError(f"line {n}: not valid JSON: {exc.msg} (column {exc.colno})",
                                code="invalid_json",
                                details={"problems": [{"line": n, "message": exc.msg}]}) from None
        lines.append(n)
    return items, lines


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise ProposalError(f"the JSON is nested too deeply (more than {MAX_DEPTH} levels)",
                            code="invalid_json") from None


_SCALARS = frozenset({str, int, bool, type(None)})


def json_problem(value: Any) -> tuple[str, str] | None:
    """The first place in ``value`` that JSON cannot carry, as (path, message); None if all is well.
    Iterative, so a value nested a million deep is refused rather than overflowing the stack."""
    if _plain(value):
        return None
    return _locate(value)


def _plain(value: Any) -> bool:
    """The common case, without building a path per item: exact dicts with str keys, lists and
    scalars, at most MAX_DEPTH deep. False sends the value to :func:`_locate`, which says where."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        t = type(item)
        if t in _SCALARS:
            continue
        if depth > MAX_DEPTH or (depth == MAX_DEPTH and item):  # (its items would be too deep)
            return False
        if t is dict:
            for key, sub in item.items():
                if type(key) is not str:
                    return False
                if type(sub) not in _SCALARS:
                    stack.append((sub, depth + 1))
        elif t is list:
            stack.extend((sub, depth + 1) for sub in item if type(sub) not in _SCALARS)
        elif t is not float or not math.isfinite(item):
            return False
    return True


_CLEAN_DEPTH = 16  # (well inside both limits: MAX_DEPTH here, the Proposal's 32 below its fields)


def _clean(value: Any) -> bool:
    """:func:`_plain` and, in the same walk, what the Proposal checks of its values (see
    :data:`crmgate.rules.proposal.TEXT_CHECKED`): text ASCII without NUL, nesting under
    ``_CLEAN_DEPTH``. False only means "check the slow way": :func:`json_problem`, then the Proposal."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        t = type(item)
        if t is str:
            if not item.isascii() or "\x00" in item:
                return False
        elif t in _SCALARS:
            continue
        elif depth >= _CLEAN_DEPTH:
            return False
        elif t is dict:
            for key, sub in item.items():
                if type(key) is not str or not key.isascii() or "\x00" in key:
                    return False
                if type(sub) is str:
                    if not sub.isascii() or "\x00" in sub:
                        return False
                elif type(sub) not in _SCALARS:
                    stack.append((sub, depth + 1))
        elif t is list:
            stack.extend((sub, depth + 1) for sub in item)
        elif t is not float or not math.isfinite(item):
            return False
    return True


def _locate(value: Any) -> tuple[str, str] | None:
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return path, f"nested more than {MAX_DEPTH} levels deep"
        if isinstance(item, Mapping):
            for key, sub in item.items():
                if not isinstance(key, str):
                    return path, f"keys must be strings, got {type(key).__name__}"
                stack.append((sub, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(item, (list, tuple)):
            stack.extend((sub, f"{path}.{i}" if path else str(i), depth + 1) for i, sub in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            return path, "NaN and infinities are not JSON numbers"
        elif item is not None and not isinstance(item, (str, int, float, bool)) and not isinstance(item, Proposal):
            return path, f"{type(item).__name__} is not a JSON value (use a string, number, boolean, null, list or object)"
    return None


#: inputs (and batches) at least this long are handled with the cyclic garbage collector paused
PAUSE_GC_FROM = 100


@contextmanager
def gc_paused(size: int) -> Iterator[None]:
    """The cyclic collector off while ``size`` items (at least :data:`PAUSE_GC_FROM`) are parsed
    or written. Everything such work makes lives until its end or is freed by reference counting,
    so each collection during it walked live objects only (a sixth of a batch's CPU, half of
    parsing's in a process holding a store and an adapter). Left alone for short inputs and when
    the caller already turned the collector off."""
    if size < PAUSE_GC_FROM or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def coerce(items: Iterable[Any], *, lines: list[int] | None = None) -> list[Proposal]:
    """Turn dicts (or Proposals) into Proposals, or raise one ProposalError listing every problem
    (a long input with the collector paused: :func:`gc_paused`)."""
    items = items if isinstance(items, list) else list(items)
    with gc_paused(len(items)):
        return _coerce(items, lines)


def _coerce(items: list[Any], lines: list[int] | None) -> list[Proposal]:
    out: list[Proposal] = []
    problems: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        plain = item.__class__ is dict  # the common case: the isinstance tests below are slower
        if not plain and isinstance(item, Proposal):
            # a Proposal built by this module (the HTTP and MCP doors parse, then propose): its
            # values read as they are, without model_dump, when they are plain JSON already
            bad = None if item.__class__ is Proposal and _plain(_values(item)) else \
                json_problem(item.model_dump(mode="python"))
            if bad is None:
                out.append(item)
            else:
                problems.append({**_where(i, lines), "path": bad[0], "message": bad[1]})
            continue
        if not plain and not isinstance(item, Mapping):
            problems.append({**_where(i, lines), "path": "",
                             "message": f"expected a JSON object, got {type(item).__name__}"})
            continue
        clean = plain and _clean(item)  # the common case: one walk serves both checks
        if not clean:
            bad = json_problem(item)
            if bad is not None:
                problems.append({**_where(i, lines), "path": bad[0], "message": bad[1]})
                continue
        try:
            out.append(Proposal.model_validate(item if plain else dict(item),  # (it builds its own dicts)
                                               context=TEXT_CHECKED if clean else None))
        except ValidationError as exc:
            where = _where(i, lines)
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


def _values(p: Proposal) -> dict[str, Any]:
    """What ``model_dump(mode="python")`` gives for a Proposal whose values are plain JSON (the op
    as its text); a value that is not plain makes :func:`_plain` refuse, and model_dump decides."""
    op = p.op
    return {"object": p.object, "op": OP_TEXT[op] if op.__class__ is Op else op, "record_id": p.record_id,
            "fields": p.fields, "actor": p.actor, "use_case": p.use_case, "confidence": p.confidence,
            "reasons": p.reasons, "inputs": p.inputs, "idempotency_key": p.idempotency_key}


def _where(index: int, lines: list[int] | None) -> dict[str, Any]:
    """Where a problem is: the proposal's index, and its line for JSON Lines."""
    return {"index": index, "line": lines[index]} if lines else {"index": index}
