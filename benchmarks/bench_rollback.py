"""Rollback at scale on the sandbox: N updates by one actor, then rollback --actor (dry run, real, repeat).

    .venv/bin/python benchmarks/bench_rollback.py [N=2000] [EMPTY_TRAIL_STORE_URL]

A person edits 10% of the records after the agent, so those fields must come back as conflicts.
Prints time and adapter calls for each phase; asserts nothing about speed.
"""
import pathlib
import sys
import tempfile
import time

from crmgate.adapters.sandbox.adapter import SandboxAdapter
from crmgate.clock import new_id
from crmgate.gate import Gate
from crmgate.project.scaffold import example_rulebook
from crmgate.rules.loader import parse_rulebook
from crmgate.trail import TrailStore, generate_keypair, load_signer

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
url = sys.argv[2] if len(sys.argv) > 2 else None
d = pathlib.Path(tempfile.mkdtemp())
generate_keypair(d / "k", d / "k.pub")
store = TrailStore(url or f"sqlite:///{d}/t.db", signer=load_signer(d / "k", env={}))
sb = SandboxAdapter(d / "crm.db")
g = Gate(rulebook=parse_rulebook(example_rulebook()), adapter=sb, store=store, ids=new_id)
base = {"Name": "D", "StageName": "Proposal", "CloseDate": "2027-01-29"}
rids = [o.record_id for o in g.propose([{"object": "Opportunity", "op": "create", "actor": "ai:deal-intake",
                                         "fields": base} for _ in range(N)])]
sb.calls.clear()
t = time.perf_counter()
g.propose([{"object": "Opportunity", "op": "update", "record_id": r, "actor": "ai:deal-hygiene",
            "confidence": 0.9, "fields": {"NextStep": "AI", "CloseDate": "2027-06-30"}} for r in rids])
fwd, fwd_calls = time.perf_counter() - t, list(sb.calls)
for r in rids[: N // 10]:
    sb.edit("Opportunity", r, {"NextStep": "rep"})
for label, kw in (("dry run", {"dry_run": True}), ("rollback", {}), ("repeat", {})):
    sb.calls.clear()
    t = time.perf_counter()
    rep = g.rollback_many(actor="ai:deal-hygiene", **kw)
    dt = time.perf_counter() - t
    print(f"{label:<9} {N} changes in {dt:.2f}s ({N / dt:,.0f} changes/s) summary={rep.summary} "
          f"adapter calls={len(sb.calls)}")
print(f"forward   {N} updates in {fwd:.2f}s, adapter calls={len(fwd_calls)}")
