"""``Plan``: one proposal on its way through a round of the write path (decided, then written)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crmgate.adapters.base import Record
from crmgate.decide.governance import Governed
from crmgate.rules.decision import Decision
from crmgate.rules.enrichment import EnrichmentResult
from crmgate.rules.proposal import Proposal
from crmgate.writes.outcome import Outcome


@dataclass(slots=True)
class Plan:
    """One proposal in flight through a round."""

    index: int
    proposal: Proposal
    proposal_id: str
    before: Record | None = None
    decision: Decision | None = None
    change_id: str | None = None
    write: bool = False
    outcome: Outcome | None = None
    enrichment: EnrichmentResult | None = None
    governed: Governed | None = None
    trace: dict[str, Any] = field(default_factory=dict)  # routing/enrichment, built once per proposal
    replayed: bool = False
    send: dict[str, Any] | None = None  # the fields written (write_fields), once decided
