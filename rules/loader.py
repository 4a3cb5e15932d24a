"""Load a rulebook from YAML, or explain precisely why it cannot be loaded.

Every failure -- unreadable file, YAML syntax, wrong shape, broken cross-reference -- becomes one
:class:`RulebookError` listing :class:`RulebookProblem` s with a dotted path
(``risk.rules[2].tier``), a message saying what was expected and what was found, and the YAML
line where it can be located (best effort, 1-based).
"""
from __future__ import annotations

import difflib
import types
import typing
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from crmgate.rules.conditions import Loc
from crmgate.rules.schema import SEMANTIC_ERROR, Rulebook
from crmgate.rules.schema import format_loc as _path

_EXPECTED = {
    "string_type": "a string", "int_type": "an integer", "float_type": "a number",
    "bool_type": "true or false", "list_type": "a list", "dict_type": "a mapping",
    "model_type": "a mapping", "model_attributes_type": "a mapping", "none_required": "null",
}


@dataclass(frozen=True, slots=True)
class RulebookProblem:
    """One thing wrong with a rulebook. ``path`` is ``""`` for the document as a whole."""

    path: str
    message: str
    line: int | None = None


class RulebookError(Exception):
    """A rulebook that cannot be used. Carries every problem found, not just the first."""

    def __init__(self, source: str, problems: list[RulebookProblem]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(str(self))

    def to_dict(self) -> dict[str, Any]:
        """``{"code": "invalid_rulebook", "source": ..., "problems": [{path, message, line}]}``."""
        return {"code": "invalid_rulebook", "source": self.source,
                "problems": [asdict(p) for p in self.problems]}

    def __str__(self) -> str:
        n = len(self.problems)
        lines = [f"invalid rulebook {self.source}: {n} problem{'s' if n != 1 else ''}"]
        for p in self.problems:
            where = p.path or "(document)"
            if p.line is not None:
                where += f" (line {p.line})"
            lines.append(f"  - {where}: {p.message}")
        return "\n".join(lines)


def load_rulebook(path: str | PathLike[str]) -> Rulebook:
    """Read and parse the rulebook at ``path``. Raises :class:`RulebookError`, nothing else."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RulebookError(source, [RulebookProblem("", f"cannot read file: {reason}")]) from None
    return parse_rulebook(text, source)


def parse_rulebook(text: str, source: str = "<string>") -> Rulebook:
    """Parse YAML ``text`` into a :class:`Rulebook`. Raises :class:`RulebookError`, nothing else."""
    try:
        return _parse(text, source)
    except RecursionError:  # an alias that contains itself (``a: &a [*a]``) has no finite form
        raise RulebookError(source, [RulebookProblem(
            "", "expected a tree of mappings and lists; got a YAML alias that refers to itself")]) from None


def _parse(text: str, source: str) -> Rulebook:
    try:  # the reader refuses control characters (a NUL byte) as soon as it is built
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        raise RulebookError(source, [RulebookProblem("", f"invalid YAML: {getattr(exc, 'reason', exc)}")]) from None
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        msg = getattr(exc, "problem", None) or str(exc)
        raise RulebookError(source, [RulebookProblem("", f"invalid YAML: {msg}", line)]) from None
    finally:
        loader.dispose()
    if node is None:
        raise RulebookError(source, [RulebookProblem(
            "", "expected a mapping with version, objects, risk, use_cases; got an empty document")])
    if not isinstance(data, dict):
        raise RulebookError(source, [RulebookProblem(
            "", f"expected a mapping at the top level; got {type(data).__name__}", node.start_mark.line + 1)])
    duplicates = _duplicate_keys(node, ())
    if duplicates:  # YAML silently keeps the last duplicate; a rule would vanish unnoticed
        raise RulebookError(source, duplicates)
    try:
        return Rulebook.model_validate(data)
    except ValidationError as exc:
        located = _problems_from(exc)
        raise RulebookError(source, [RulebookProblem(_path(loc), msg, _line(node, loc))
                                     for loc, msg in located]) from None


def _problems_from(exc: ValidationError) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(err["loc"])
        if err["type"] == SEMANTIC_ERROR:
            out.extend((loc + tuple(sub), msg) for sub, msg in err["ctx"]["problems"])
        else:
            out.append((loc, _message(err, loc)))
    return out


def _got(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(err: dict[str, Any], loc: Loc) -> str:
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        key = str(loc[-1])
        msg = f"unknown key {key!r}"
        if allowed:
            msg += f"; expected one of {', '.join(allowed)}"
            close = difflib.get_close_matches(key, allowed, n=1)
            if close:
                msg += f" (did you mean {close[0]!r}?)"
        return msg
    if kind == "missing":
        return f"required key {str(loc[-1])!r} is missing"
    if kind == "literal_error":
        choices = [c.strip("'") for c in ctx.get("expected", "").replace(" or ", ", ").split(", ")]
        want = choices[0] if len(choices) == 1 else f"one of {', '.join(choices)}"
        return f"expected {want}; got {_got(value)}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}; got {_got(value)} ({type(value).__name__})"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length')} item(s); got {_got(value)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sym = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        bound = next(iter(ctx.values()), "?")
        return f"expected a value {sym} {bound}; got {_got(value)}"
    return f"{err['msg']}; got {_got(value)}"


def _allowed_keys(loc: Loc) -> list[str]:
    """The keys the model at ``loc`` accepts, for 'did you mean' hints; [] if not a model."""
    tp: Any = Rulebook
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = tp.model_fields.get(str(part))
            if info is None:
                return []
            tp = info.annotation
        else:
            args = typing.get_args(tp)
            if not args:
                return []
            tp = args[-1]  # list[X] / dict[str, X] -> X
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    """``X | None`` -> ``X``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _line(root: yaml.Node, loc: Loc) -> int | None:
    """1-based line of the deepest YAML node reachable along ``loc`` (a key's own line if the
    last step names a key that exists, so 'unknown key' points at the key)."""
    node = root
    for depth, part in enumerate(loc):
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    last = depth == len(loc) - 1
                    node = key if last and isinstance(value, yaml.ScalarNode) else value
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
    return node.start_mark.line + 1


def _duplicate_keys(node: yaml.Node, loc: Loc) -> list[RulebookProblem]:
    problems: list[RulebookProblem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if name is not None and name in seen:
                problems.append(RulebookProblem(_path(loc + (name,)), f"duplicate key {name!r}; "
                                                "expected each key once", key.start_mark.line + 1))
            if name is not None:
                seen.add(name)
            problems += _duplicate_keys(value, loc + ((name,) if name is not None else ()))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems += _duplicate_keys(item, loc + (i,))
    return problems
