"""The proposal: what an AI workflow asks crmgate to do to one CRM record.

A proposal is parsed strictly: unknown keys, a ``record_id`` on a create or a missing one on an
update/delete, a confidence outside [0, 1] are malformed input (:class:`pydantic.ValidationError`),
not rule violations. Rule violations are judged later against the rulebook.
"""
from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Op(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


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
    def _record_id_matches_op(self) -> "Proposal":
        if self.op is Op.CREATE and self.record_id is not None:
            raise ValueError("record_id must not be given for op 'create'")
        if self.op is not Op.CREATE and not self.record_id:
            raise ValueError(f"record_id is required for op '{self.op.value}'")
        if self.op is Op.DELETE and self.fields:
            raise ValueError("fields must be empty for op 'delete'")
        for name in ("fields", "inputs"):
            where = _non_finite(getattr(self, name), name)
            if where:
                raise ValueError(f"{where} is not a finite number (NaN and infinities cannot be "
                                 "recorded or written)")
        return self


def _non_finite(value: Any, path: str) -> str | None:
    """The path of the first NaN or infinity inside ``value``, if any."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, dict):
        for k, v in value.items():
            found = _non_finite(v, f"{path}.{k}")
            if found:
                return found
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _non_finite(v, f"{path}[{i}]")
            if found:
                return found
    return None
