"""Terse builders for rules tests (imported by the test modules)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rules.proposal import Proposal

TEMPLATE = Path(__file__).resolve().parents[2] / "connector" / "templates" / "rules.yaml"


def proposal(obj: str, op: str, actor: str, fields: dict[str, Any] | None = None, **kw: Any) -> Proposal:
    """A proposal with a record_id filled in for update/delete."""
    if op != "create":
        kw.setdefault("record_id", "rec1")
    return Proposal(object=obj, op=op, actor=actor, fields=fields or {}, **kw)


def opp(**overrides: Any) -> dict[str, Any]:
    """A valid current Opportunity record, early stage."""
    return {"Name": "Acme renewal", "StageName": "Prospecting", "CloseDate": "2026-03-31",
            "Amount": 100, "NextStep": None, "ForecastCategoryName": "Pipeline", "OwnerId": "005A", **overrides}


def lead(**overrides: Any) -> dict[str, Any]:
    """A valid current Lead record."""
    return {"LastName": "Kim", "Company": "Acme", "Email": "kim@acme.example", "Rating": "Warm", **overrides}
