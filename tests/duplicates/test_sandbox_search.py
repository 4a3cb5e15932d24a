"""The sandbox's candidate search with more look-ups than one compound SELECT holds: every look-up
keeps its own arguments, so the rows found are exactly those a plain scan finds."""
from __future__ import annotations

from pathlib import Path

from crmgate.adapters.base import CreateRequest
from crmgate.adapters.sandbox.adapter import SandboxAdapter


def test_many_look_ups_find_exactly_what_a_scan_finds(tmp_path: Path) -> None:
    """450 prefixes and 700 emails over two fields (several compound SELECTs, and the cached and
    uncached statements) return the rows a case-folded scan of every record matches."""
    with SandboxAdapter(tmp_path / "crm.db") as crm:
        crm.max_candidates = 10_000
        records = [{"LastName": f"Name{i:04d}", "Company": f"Co{i % 13}", "Email": f"P{i}@X{i % 7}.example"}
                   for i in range(900)]
        crm.create_many("Lead", [CreateRequest(fields=r) for r in records])
        emails = [f"p{i}@x{i % 7}.example" for i in range(0, 1400, 2)]  # half of them exist
        starts = [f"name{i:03d}" for i in range(0, 90)] + [f"NAME{i:04d}"[:7] for i in range(360)]
        for keys, prefixes in (({"Email": emails}, {"LastName": starts}), ({"Email": emails[:3]}, {}),
                               ({}, {"LastName": starts[:2]}), ({"Email": emails[:1]}, {"LastName": starts[:1]})):
            found = {r.fields["Email"] for r in crm.find_candidates("Lead", keys, prefixes)}
            wanted = {e.casefold() for e in keys.get("Email", ())}
            heads = [p.casefold() for p in prefixes.get("LastName", ())]
            expected = {r["Email"] for r in records if r["Email"].casefold() in wanted
                        or any(r["LastName"].casefold().startswith(h) for h in heads)}
            assert found == expected and expected
