"""Rule violations: data returned to the caller, never raised.

A violation names a stable ``code`` (see :class:`Code`), the object and field it concerns, and a
human-readable message. Callers branch on ``code``; the message is for people.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Code(StrEnum):
    """Stable violation codes. New codes may be added; existing ones never change meaning."""

    REQUIRED_FIELD_MISSING = "required_field_missing"
    INVALID_TYPE = "invalid_type"
    INVALID_PICKLIST_VALUE = "invalid_picklist_value"
    TOO_LONG = "too_long"
    OUT_OF_RANGE = "out_of_range"
    INVALID_EMAIL = "invalid_email"
    UNKNOWN_FIELD = "unknown_field"
    UNKNOWN_OBJECT = "unknown_object"
    UNKNOWN_USE_CASE = "unknown_use_case"
    OBJECT_NOT_ALLOWED = "object_not_allowed"
    FIELD_NOT_ALLOWED = "field_not_allowed"
    OPERATION_NOT_ALLOWED = "operation_not_allowed"
    ACTOR_NOT_ALLOWED = "actor_not_allowed"
    RECORD_NOT_FOUND = "record_not_found"
    BLOCKED_BY_RISK_TIER = "blocked_by_risk_tier"
    ENRICHMENT_FAILED = "enrichment_failed"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Violation:
    """One reason a proposal cannot be applied as it stands."""

    code: str
    object: str
    field: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        # what asdict gave (every field is a str or None), without its recursive copy
        return {"code": self.code, "object": self.object, "field": self.field, "message": self.message}
