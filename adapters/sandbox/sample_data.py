"""A small, deterministic, realistic CRM data set for the sandbox (demo and tests).

Generated in code, never read from a file. It deliberately includes awkward strings: Korean and
Chinese company names, apostrophes, a number-looking string (``-1E02``) and superscripts (``m²``),
so every layer is exercised with text that breaks naive encoders and type sniffers.

Creates carry idempotency keys (``sample:<object>:<n>``), so seeding the same sandbox twice
returns the same ids and creates nothing new.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from crmgate.adapters.base import CreateRequest
from crmgate.adapters.errors import CRMValidationError
from crmgate.adapters.sandbox.adapter import SandboxAdapter, salesforce_id

#: a fixed day, not the wall clock, so close dates are the same on every run
BASE_DATE = date(2026, 12, 1)
OWNERS = tuple(salesforce_id("005", n) for n in (1, 2, 3))  # 005000000000001AAA...

# (Name, Industry, BillingCountry, NumberOfEmployees, AnnualRevenue)
_ACCOUNTS = [
    ("Acme Logistics GmbH", "Transportation", "DE", 1200, 310_000_000),
    ("주식회사 한빛소프트", "Technology", "KR", 340, 52_000_000),
    ("北京星河数据科技有限公司", "Technology", "CN", 860, 97_500_000),
    ("O'Reilly & Sons Hardware", "Retail", "IE", 45, 6_400_000),
    ("Nordlys Energi AS", "Energy", "NO", 2100, 880_000_000),
]
# (FirstName, LastName, Title, Department, account index)
_CONTACTS = [
    ("Jürgen", "Müller", "Head of Operations", "Operations", 0),
    ("Anna", "Schmidt", "Procurement Lead", "Purchasing", 0),
    ("민준", "김", "CTO", "Engineering", 1),
    ("서연", "이", "IT Manager", "IT", 1),
    ("伟", "王", "VP Data Platform", "数据平台部", 2),
    ("Siobhán", "O'Reilly", "Owner", "-1E02", 3),
    ("Ingrid", "Solberg", "CFO", "Finance", 4),
    ("Lars", "Haugen", "Facilities Manager (m²)", "Facilities", 4),
]
# (FirstName, LastName, Company, Country, NumberOfEmployees, Rating, LeadSource)
_LEADS = [
    ("Maria", "García", "Verde Agro S.L.", "ES", 75, "Warm", "Web"),
    ("Ji-woo", "박", "주식회사 새벽물류", "KR", 210, "Hot", "Trade Show"),
    ("Li", "陈", "上海云帆信息技术有限公司", "CN", 1500, "Warm", "Partner Referral"),
    ("Patrick", "O'Connor", "O'Connor's Bakery", "IE", 12, "Cold", "Web"),
    ("Emma", "Laurent", "E=mc² Conseil", "FR", 30, "Hot", "Phone Inquiry"),
    ("Tomás", "Novák", "-1E02 Labs s.r.o.", "CZ", 8, "Cold", "Other"),
    ("Aiko", "Tanaka", "株式会社サクラ精機", "JP", 640, "Warm", "Web"),
    ("Noah", "Smith", "Bluewave Analytics Inc.", "US", 95, "Hot", "Partner Referral"),
]
# (Name, StageName, days to close, Amount, NextStep, account index)
_OPPORTUNITIES = [
    ("Acme - Fleet Telematics", "Prospecting", 60, 48_000.0, "Discovery call", 0),
    ("Acme - Warehouse Scanners", "Negotiation", 14, 125_500.0, "Legal review of MSA", 0),
    ("한빛소프트 - 클라우드 이전", "Qualification", 45, 72_000.0, "Security questionnaire", 1),
    ("星河数据 - 数据治理平台", "Proposal", 30, 210_000.0, "Send revised quote", 2),
    ("O'Reilly - POS Upgrade", "Prospecting", 90, 9_800.0, "Demo for the owner", 3),
    ("Nordlys - Grid Analytics", "Proposal", 21, 340_000.0, "Pricing sign-off", 4),
    ("Nordlys - 500 m² Office Fit-out", "Qualification", 75, 61_250.5, "Site visit", 4),
    ("Acme - Renewal FY27", "Negotiation", 7, 96_000.0, "Final approval from CFO", 0),
]
_FORECAST = {"Prospecting": "Pipeline", "Qualification": "Pipeline", "Proposal": "Best Case", "Negotiation": "Commit"}


def _ascii(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isascii() and ch.isalnum()) or "contact"


def _rows() -> dict[str, list[dict[str, Any]]]:
    """The records to create; Contact/Opportunity ``AccountId`` holds an account *index* here."""
    accounts = [
        {"Name": n, "Industry": i, "BillingCountry": c, "NumberOfEmployees": e, "AnnualRevenue": r}
        for n, i, c, e, r in _ACCOUNTS
    ]
    contacts = [
        {"FirstName": f, "LastName": l, "Title": t, "Department": d, "AccountId": a,
         "Email": f"{_ascii(f)}.{_ascii(l)}{k}@example.com", "Phone": f"+1 555 01{k:02d}"}
        for k, (f, l, t, d, a) in enumerate(_CONTACTS, start=1)
    ]
    leads = [
        {"FirstName": f, "LastName": l, "Company": co, "Country": c, "NumberOfEmployees": e,
         "Rating": r, "LeadSource": s, "Status": "Open - Not Contacted",
         "Email": f"lead{k}.{_ascii(l)}@example.org"}
        for k, (f, l, co, c, e, r, s) in enumerate(_LEADS, start=1)
    ]
    opportunities = [
        {"Name": n, "StageName": st, "CloseDate": (BASE_DATE + timedelta(days=d)).isoformat(), "Amount": amt,
         "NextStep": ns, "ForecastCategoryName": _FORECAST[st], "OwnerId": OWNERS[k % len(OWNERS)],
         "AccountId": a}
        for k, (n, st, d, amt, ns, a) in enumerate(_OPPORTUNITIES)
    ]
    return {"Account": accounts, "Contact": contacts, "Lead": leads, "Opportunity": opportunities}


def seed_sample(sandbox: SandboxAdapter) -> dict[str, list[str]]:
    """Create the sample set in ``sandbox``; returns the ids per object in creation order.

    Accounts are created first so Contacts and Opportunities can point at them. Raises
    :class:`CRMValidationError` if the sandbox rejects a record (a bug in this module).
    """
    rows = _rows()
    ids: dict[str, list[str]] = {}
    for object, records in rows.items():
        requests = []
        for n, fields in enumerate(records, start=1):
            if "AccountId" in fields:
                fields = {**fields, "AccountId": ids["Account"][fields["AccountId"]]}
            requests.append(CreateRequest(fields, idempotency_key=f"sample:{object}:{n}"))
        results = sandbox.create_many(object, requests)
        failed = [r.error for r in results if not r.ok]
        if failed:
            raise CRMValidationError(f"sample {object} rejected: {failed[0]}", code="sample_rejected")
        ids[object] = [r.id for r in results if r.id is not None]
    return ids
