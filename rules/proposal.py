"""The proposal: what an AI workflow asks crmgate to do to one CRM record.

A proposal is parsed strictly: unknown keys, a ``record_id`` on a create or a missing one on an
update/delete, a confidence outside [0, 1] are malformed input (:class:`pydantic.ValidationError`),
not rule violations. Rule violations are judged later against the rulebook.
"""
from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator


class Op(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


#: each op's text, read without the enum's ``value`` property (a descriptor call per read)
OP_TEXT: dict[Op, str] = {op: op.value for op in Op}


class Proposal(BaseModel):
    """One proposed change to one record. Immutable once parsed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    object: str = Field(min_length=1)
    op: Op
    record_id: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    actor: str = Field(min_length=1)
    use_case: str | None = None
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    reasons: list[str] = Field(default_factory=list)
    inputs: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _record_id_matches_op(self, info: ValidationInfo) -> "Proposal":
        if self.op is Op.CREATE and self.record_id is not None:
            raise ValueError("record_id must not be given for op 'create'")
        if self.op is not Op.CREATE and not self.record_id:
            raise ValueError(f"record_id is required for op '{self.op.value}'")
        if self.op is Op.DELETE and self.fields:
            raise ValueError("fields must be empty for op 'delete'")
        if info.context is TEXT_CHECKED:
            return self  # the caller walked the whole input already: the walk below finds nothing
        for name in _CHECKED:
            value = getattr(self, name)
            if value is None or value.__class__ is str and value.isascii() and "\x00" not in value or not value:
                continue  # the common cases, without a call each
            problem = _unrecordable(value, name)
            if problem:
                raise ValueError(problem)
        return self


#: the ``model_validate`` context of a caller that walked the whole input and found only plain JSON
#: (dicts with str keys, lists, str, int, bool, None, finite floats) whose text is ASCII without a
#: NUL, nested less than 16 deep: nothing :func:`_unrecordable` refuses, so it is not run again
#: (crmgate.writes.intake: one walk of each proposal instead of two)
TEXT_CHECKED = object()

_CHECKED = ("object", "record_id", "actor", "use_case", "idempotency_key", "fields", "inputs", "reasons")


MAX_DEPTH = 32  # nesting of fields and inputs; deeper is a bug in the caller, not CRM data


def _unrecordable(value: Any, path: str, depth: int = 0) -> str | None:
    """Why ``value`` cannot be recorded in the trail or written to a CRM, or None: a NaN or an
    infinity, a string that is not valid Unicode (a lone surrogate) or holds a NUL, nesting deeper
    than :data:`MAX_DEPTH`."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{path} is not a finite number (NaN and infinities cannot be recorded or written)"
    if isinstance(value, str):
        return _bad_text(value, path)
    if isinstance(value, (dict, list, tuple)):
        if depth >= MAX_DEPTH:
            return f"{path} is nested more than {MAX_DEPTH} levels deep"
        is_dict = isinstance(value, dict)
        items = value.items() if is_dict else enumerate(value)
        for k, v in items:
            # plain text keys and plain scalar values need no path built: most items of a proposal
            # (ASCII text without a NUL, isascii being O(1), is text _bad_text never refuses)
            if (not is_dict or k.__class__ is str and k.isascii() and "\x00" not in k) and (
                    v is None or v.__class__ in _PLAIN or v.__class__ is str and v.isascii() and "\x00" not in v):
                continue
            where = f"{path}.{k}" if is_dict else f"{path}[{k}]"
            found = (_bad_text(k, f"{path} key") if isinstance(k, str) else None) or _unrecordable(v, where, depth + 1)
            if found:
                return found
    return None


_PLAIN = frozenset({int, bool})


def _bad_text(text: str, path: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"{path} is not valid Unicode text (it holds a lone surrogate)"
    if "\x00" in text:
        return f"{path} holds a NUL character"
    return None
