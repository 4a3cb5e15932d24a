"""The ``enrichment:`` section of the rulebook (see :mod:`crmgate.rules.enrichment` for its meaning)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from crmgate.rules.model import Model


class UseDefault(Model):
    default: Any


class FieldPolicy(Model):
    on_failure: Literal["skip", "hold", "reject"] | UseDefault = "skip"


class CircuitBreakerPolicy(Model):
    failures: int = Field(default=5, ge=1)
    cooldown_s: float = Field(default=60.0, gt=0)


class EnrichmentSection(Model):
    provider: str = Field(min_length=1)
    timeout_s: float = Field(default=2.0, gt=0)
    on: list[Literal["create", "update"]] = Field(default_factory=lambda: ["create"], min_length=1)
    fields: dict[str, FieldPolicy] = Field(min_length=1)
    circuit_breaker: CircuitBreakerPolicy = CircuitBreakerPolicy()
