"""Enrichment policy: which fields a provider may fill, and what happens when it fails.

The connector calls the provider (with a timeout and a circuit breaker); this module decides,
purely, what each configured field becomes given the provider's status and answer:

* the proposal's own value always wins: a field the proposal sets is not enriched;
* a value the provider returns is validated like a proposed value (type, picklist, length...);
* a failure (exception, timeout, malformed answer, circuit open, a missing or invalid value)
  applies the field's ``on_failure``: ``skip`` (write without it), ``{default: V}``, ``hold``
  (queue the whole change for a person) or ``reject``. Never a half-written or unvalidated value.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from crmgate.rules.enrichment_models import EnrichmentSection, UseDefault
from crmgate.rules.fields import check_value
from crmgate.rules.schema import ObjectSchema

ProviderStatus = Literal["ok", "error", "timeout", "malformed", "circuit_open", "not_called"]
__all__ = ["EnrichmentResult", "EnrichmentSection", "Provenance", "fields_wanted", "resolve"]


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where one field's written value came from."""

    source: Literal["proposal", "provider", "default", "routing"]
    detail: str | None = None
    status: str | None = None  # the provider's status when the field was meant to be enriched

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source}
        if self.detail:
            out["detail"] = self.detail
        if self.status:
            out["provider_status"] = self.status
        return out


@dataclass(frozen=True, slots=True)
class EnrichmentResult:
    """Values to add to the proposal, each field's provenance and fate, holds and rejections."""

    provider: str
    status: ProviderStatus
    values: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Provenance] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)  # field -> filled|default|skipped|held|rejected|proposal
    hold: tuple[str, ...] = ()
    reject: tuple[tuple[str, str], ...] = ()  # (field, why)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "status": self.status, "error": self.error,
                "fields": dict(self.outcomes), "hold": list(self.hold),
                "reject": [{"field": f, "why": w} for f, w in self.reject]}


def fields_wanted(section: EnrichmentSection, proposal_fields: Mapping[str, Any]) -> list[str]:
    """Configured fields the proposal leaves unset, sorted: if empty, the provider is not called."""
    return sorted(f for f in section.fields if f not in proposal_fields)


def resolve(section: EnrichmentSection, obj_name: str, obj: ObjectSchema,
            proposal_fields: Mapping[str, Any], status: ProviderStatus, answer: Any,
            error: str | None = None) -> EnrichmentResult:
    """Apply the provider's answer and each field's failure policy. Pure."""
    values: dict[str, Any] = {}
    prov: dict[str, Provenance] = {}
    outcomes: dict[str, str] = {}
    hold: list[str] = []
    reject: list[tuple[str, str]] = []
    if status == "ok" and not isinstance(answer, Mapping):
        status, error = "malformed", f"expected a JSON object of field values; got {type(answer).__name__}"
    for name in sorted(section.fields):
        if name in proposal_fields:
            outcomes[name] = "proposal"
            continue
        why = error or status
        if status == "ok":
            if name in answer and answer[name] is not None:  # type: ignore[operator]
                value = answer[name]  # type: ignore[index]
                bad = check_value(obj_name, name, obj.fields[name], value)
                if bad is None:
                    values[name] = value
                    prov[name] = Provenance("provider", section.provider, "ok")
                    outcomes[name] = "filled"
                    continue
                why = f"invalid value from {section.provider}: {bad.message}"
            else:
                why = f"{section.provider} returned no value"
        policy = section.fields[name].on_failure
        if isinstance(policy, UseDefault):
            values[name] = policy.default
            prov[name] = Provenance("default", f"enrichment.{obj_name}.fields.{name}", status)
            outcomes[name] = "default"
        elif policy == "skip":
            outcomes[name] = "skipped"
        elif policy == "hold":
            hold.append(name)
            outcomes[name] = "held"
        else:
            reject.append((name, why))
            outcomes[name] = "rejected"
    return EnrichmentResult(section.provider, status, values, prov, outcomes, tuple(hold), tuple(reject), error)
