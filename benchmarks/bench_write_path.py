"""Throughput of the governed write path. Prints figures; asserts nothing about speed.

    .venv/bin/python benchmarks/bench_write_path.py [--proposals 10000] [--entries 100000]
        [--store URL] [--verify-store EMPTY_URL]

1. decide(): validation + use case + risk + decision alone, proposals/s.
2. End to end on the sandbox with the signed trail: N creates then N updates, submitted in
   batches (--batch), proposals/s, with the CRM call count.
3. trail verify over M entries (appended in batches of 1,000), entries/s.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from crmgate.adapters.sandbox.adapter import SandboxAdapter
from crmgate.gate import Gate
from crmgate.project.scaffold import example_rulebook
from crmgate.rules.decision import decide
from crmgate.rules.loader import parse_rulebook
from crmgate.rules.proposal import Proposal
from crmgate.trail import NewEntry, TrailStore, generate_keypair, load_public_key, load_signer, verify_store


def lead(i: int) -> dict:
    return {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
            "fields": {"LastName": f"Lead {i}", "Company": f"Company {i % 97}", "Country": "DE",
                       "Email": f"lead{i}@example.com", "NumberOfEmployees": i % 5000, "Rating": "Warm"}}


def bench_decide(n: int) -> None:
    rb = parse_rulebook(example_rulebook())
    current = {"Name": "Deal", "StageName": "Proposal", "CloseDate": "2027-01-29", "Amount": 1000}
    props = [Proposal.model_validate(lead(i)) for i in range(n // 2)] + [
        Proposal.model_validate({"object": "Opportunity", "op": "update", "record_id": f"006{i}",
                                 "actor": "ai:deal-hygiene", "confidence": 0.9,
                                 "fields": {"Amount": 1000 + i % 400, "NextStep": "Call"}})
        for i in range(n - n // 2)]
    t = time.perf_counter()
    for p in props:
        decide(p, None if p.op == "create" else current, rb)
    dt = time.perf_counter() - t
    print(f"decide() alone           {n:>8,} proposals  {dt:7.2f} s  {n / dt:>10,.0f} proposals/s")


def bench_end_to_end(n: int, batch: int, store_url: str | None, work: Path) -> None:
    generate_keypair(work / "k", work / "k.pub")
    store = TrailStore(store_url or f"sqlite:///{work / 'trail.db'}", signer=load_signer(work / "k", env={}))
    crm = SandboxAdapter(work / "crm.db")
    gate = Gate(rulebook=parse_rulebook(example_rulebook()), adapter=crm, store=store)
    ids: list[str] = []
    t = time.perf_counter()
    for start in range(0, n, batch):
        ids += [o.record_id for o in gate.propose([lead(i) for i in range(start, min(n, start + batch))])]
    dt_c = time.perf_counter() - t
    t = time.perf_counter()
    for start in range(0, n, batch):
        gate.propose([{"object": "Lead", "op": "update", "record_id": rid, "actor": "ai:lead-intake-1",
                       "fields": {"Rating": "Hot"}} for rid in ids[start:start + batch]])
    dt_u = time.perf_counter() - t
    calls = len(crm.calls)
    print(f"end to end, creates      {n:>8,} proposals  {dt_c:7.2f} s  {n / dt_c:>10,.0f} proposals/s"
          f"  (batches of {batch})")
    print(f"end to end, updates      {n:>8,} proposals  {dt_u:7.2f} s  {n / dt_u:>10,.0f} proposals/s"
          f"  (with before-images)")
    print(f"   CRM calls for both: {calls:,}; trail entries: {store.head()[0]:,}")
    gate.close()


def bench_verify(m: int, store_url: str | None, work: Path) -> None:
    generate_keypair(work / "v", work / "v.pub")
    store = TrailStore(store_url or f"sqlite:///{work / 'verify.db'}", signer=load_signer(work / "v", env={}))
    t = time.perf_counter()
    for start in range(0, m, 1000):
        store.append([NewEntry(kind="write.result", proposal_id=f"prp_{i}", change_id=f"chg_{i}",
                               actor="ai:bench", object="Lead", record_id=f"00Q{i:015d}", op="update",
                               data={"status": "ok", "after": {"Rating": "Hot"}, "n": i})
                      for i in range(start, min(m, start + 1000))])
    dt_a = time.perf_counter() - t
    key = load_public_key(work / "v.pub")
    t = time.perf_counter()
    report = verify_store(store, key)
    dt_v = time.perf_counter() - t
    assert report.ok, report.problems
    print(f"trail append             {m:>8,} entries    {dt_a:7.2f} s  {m / dt_a:>10,.0f} entries/s (batches of 1,000)")
    print(f"trail verify             {m:>8,} entries    {dt_v:7.2f} s  {m / dt_v:>10,.0f} entries/s")
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--proposals", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--store", default=None,
                    help="trail store URL for the end-to-end run (default: a temporary SQLite file)")
    ap.add_argument("--verify-store", default=None,
                    help="an EMPTY trail store URL for the verify run (default: a temporary SQLite file)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bench_decide(args.proposals)
        bench_end_to_end(args.proposals, args.batch, args.store, work)
        bench_verify(args.entries, args.verify_store, work)


if __name__ == "__main__":
    main()
