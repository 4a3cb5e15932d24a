"""Terse builders for rules tests (imported by the test modules)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from crmgate.rules.proposal import Proposal

TEMPLATE = Path(__file__).resolve().parents[2] / "connector" / "project" / "templates" / "rules.yaml"


def proposal(obj: str, op: str, actor: str, fields: dict[str, Any] | None = None, **kw: Any) -> Proposal:
    """A proposal with a record_id filled in for update/delete.

    Non-finite numbers are refused when a Proposal is parsed; such a proposal is built unparsed
    so the rules' own defence against them stays tested.
    """
    if op != "create":
        kw.setdefault("record_id", "rec1")
    values = fields or {}
    if any(isinstance(v, float) and v != v or v in (float("inf"), float("-inf")) for v in values.values()):
        from crmgate.rules.proposal import Op

        return Proposal.model_construct(object=obj, op=Op(op), actor=actor, fields=values,
                                        **{"use_case": None, "confidence": None, "reasons": [],
                                           "inputs": {}, "idempotency_key": None, **kw})
    return Proposal(object=obj, op=op, actor=actor, fields=values, **kw)


def opp(**overrides: Any) -> dict[str, Any]:
    """A valid current Opportunity record, early stage."""
    return {"Name": "Acme renewal", "StageName": "Prospecting", "CloseDate": "2026-03-31",
            "Amount": 100, "NextStep": None, "ForecastCategoryName": "Pipeline", "OwnerId": "005A", **overrides}


def lead(**overrides: Any) -> dict[str, Any]:
    """A valid current Lead record."""
    return {"LastName": "Kim", "Company": "Acme", "Email": "kim@acme.example", "Rating": "Warm", **overrides}
