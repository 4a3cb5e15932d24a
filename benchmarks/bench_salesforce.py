"""crmgate vs plain simple-salesforce vs hand-written Collections, against the loopback fake.
Prints figures; asserts nothing about speed.

    .venv/bin/python benchmarks/bench_salesforce.py [--n 1000] [--latency 0.020] [--concurrency 4] [--skip-loop]
        [--rounds 3] [--no-baseline]

Each contender updates ``NumberOfEmployees`` on N existing Leads, in a fake org that adds
``--latency`` seconds to every API call:

* crmgate: ``Gate.propose`` of N update proposals with the example rulebook (use case
  lead_intake), a signed SQLite trail, before-images (``Id``, ``SystemModstamp`` and the
  rulebook's 9 Lead fields, see docs/salesforce.md) and conditional batched writes
  (``crm.concurrency`` = ``--concurrency``), chunks pipelined (``crmgate.writes.chunks``: the
  next 200 are decided and their intents committed while a chunk's call is in flight);
* the same with pipelining off (the adapter's ``write_lanes`` = 0: every decision and intent of the
  round, then the adapter's calls, then every result), to show what the pipeline adds;
* (a) a plain simple-salesforce loop: ``sf.Lead.get(id)`` then ``sf.Lead.update(id, ...)`` per record;
* (b) hand-written Collections: one retrieve per 2,000 ids, one ``PATCH composite/sobjects`` per
  200 records, no validation, no trail;
* (c) the same hand-written calls with the PATCHes sent ``--concurrency`` at a time, as crmgate's
  adapter sends them (``crm.concurrency``, default 4), so crmgate's concurrency is compared with
  hand-written code that has it too.

Then the ``ROW|`` line of the targets table: crmgate's wall time over (b)'s, the median of
``--rounds`` pairs, for this tree and for the pre-scale-work tree (``benchmarks/baseline.py``)
run the same way in a subprocess in the same run. What crmgate adds on top of (b) is its own CPU
(decisions, trail, before-image bookkeeping); the pipeline hides the calls' latency behind it, so
crmgate's wall time is about one retrieve, its CPU and the last chunk's call.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from concurrent.futures import ThreadPoolExecutor

from simple_salesforce import Salesforce

from crmgate.adapters.salesforce.adapter import SalesforceAdapter
from crmgate.adapters.salesforce.settings import LoopbackSession
from crmgate.gate import Gate
from crmgate.project.scaffold import example_rulebook
from crmgate.rules.loader import parse_rulebook
from crmgate.trail import TrailStore, generate_keypair, load_signer
from tests.fakes.salesforce_fake import SESSION_ID, SalesforceFake


def seed(fake: SalesforceFake, n: int) -> list[str]:
    ids = [fake.seed("Lead", {"LastName": f"Lead {i}", "Company": f"Co {i % 97}", "NumberOfEmployees": 1})
           for i in range(n)]
    time.sleep(1.1)  # let the stamps' second pass, as for records edited earlier in a real org
    fake.calls.clear()
    return ids


def run_crmgate(fake: SalesforceFake, ids: list[str], tmp: Path, concurrency: int, pipeline: bool = True) -> dict:
    adapter = SalesforceAdapter.from_settings({"instance_url": fake.url, "concurrency": concurrency},
                                              env={"SALESFORCE_SESSION_ID": SESSION_ID})
    if not pipeline:
        adapter.write_lanes = 0  # type: ignore[attr-defined]  # crmgate.writes.chunks.lanes reads it
    tmp.mkdir(exist_ok=True)
    adapter.read_fields("Lead")  # the describe: once per object per process, not per run
    describe_calls = len(fake.calls)
    fake.calls.clear()
    generate_keypair(tmp / "trail.key", tmp / "trail.pub")
    store = TrailStore(f"sqlite:///{tmp / 'trail.db'}", signer=load_signer(tmp / "trail.key", env={}))
    gate = Gate(rulebook=parse_rulebook(example_rulebook()), adapter=adapter, store=store)
    proposals = [{"object": "Lead", "op": "update", "record_id": rid, "actor": "ai:lead-intake-1",
                  "fields": {"NumberOfEmployees": 100 + k}} for k, rid in enumerate(ids)]
    start = time.perf_counter()
    outcomes = gate.propose(proposals)
    wall = time.perf_counter() - start
    ages = [e.data["info"]["check_age_ms"] for e in store.iter_entries()
            if e.kind == "write.result" and (e.data.get("info") or {}).get("check_age_ms") is not None]
    gate.close()
    applied = sum(o.status == "applied" for o in outcomes)
    window = f"; residual window (before-image -> write) {min(ages):.0f}-{max(ages):.0f} ms" if ages else ""
    return {"calls": len(fake.calls), "kinds": _kinds(fake), "wall": wall, "applied": applied,
            "note": f"(+{describe_calls} describe once per process{window})"}


def run_plain_loop(fake: SalesforceFake, ids: list[str]) -> dict:
    netloc = fake.url.split("://", 1)[1]
    sf = Salesforce(instance_url=fake.url, session_id=SESSION_ID, version="59.0", session=LoopbackSession(netloc))
    start = time.perf_counter()
    for k, rid in enumerate(ids):
        sf.Lead.get(rid)
        sf.Lead.update(rid, {"NumberOfEmployees": 200 + k})
    wall = time.perf_counter() - start
    return {"calls": len(fake.calls), "kinds": _kinds(fake), "wall": wall, "applied": len(ids), "note": ""}


def run_collections(fake: SalesforceFake, ids: list[str], concurrency: int = 1) -> dict:
    netloc = fake.url.split("://", 1)[1]
    sf = Salesforce(instance_url=fake.url, session_id=SESSION_ID, version="59.0", session=LoopbackSession(netloc))
    start = time.perf_counter()
    current = {}
    for s in range(0, len(ids), 2000):
        rows = sf.restful("composite/sobjects/Lead", method="POST",
                          json={"ids": ids[s:s + 2000], "fields": ["Id", "SystemModstamp", "NumberOfEmployees"]})
        current.update((r["Id"], r) for r in rows if r)

    def patch(s: int) -> int:
        records = [{"attributes": {"type": "Lead"}, "id": rid, "NumberOfEmployees": 300 + s + k}
                   for k, rid in enumerate(ids[s:s + 200])]
        results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records})
        return sum(r["success"] for r in results)

    starts = range(0, len(ids), 200)
    if concurrency == 1:
        applied = sum(patch(s) for s in starts)
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            applied = sum(pool.map(patch, starts))
    wall = time.perf_counter() - start
    return {"calls": len(fake.calls), "kinds": _kinds(fake), "wall": wall, "applied": applied, "note": ""}


def ratios(n: int, latency: float, concurrency: int, rounds: int) -> list[float]:
    """crmgate's wall time over (b)'s, ``rounds`` times, each pair on freshly seeded Leads."""
    out = []
    with tempfile.TemporaryDirectory() as tmp, SalesforceFake(latency=latency) as fake:
        for r in range(rounds):
            work = Path(tmp) / str(r)
            work.mkdir()
            ours = run_crmgate(fake, seed(fake, n), work, concurrency)["wall"]
            out.append(ours / run_collections(fake, seed(fake, n))["wall"])
    return out


def baseline_row(args: argparse.Namespace) -> None:
    from benchmarks.baseline import baseline_env, baseline_tree, current_env, row

    def child(env: dict[str, str]) -> float:
        done = subprocess.run([sys.executable, __file__, "--ratios", "--n", str(args.n), "--latency",
                               str(args.latency), "--concurrency", str(args.concurrency),
                               "--rounds", str(args.rounds)], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"the benchmark child failed:\n{done.stderr[-3000:]}")
        return statistics.median(json.loads(done.stdout.strip().splitlines()[-1]))

    now = child(current_env())
    with baseline_tree() as old:
        before = child(baseline_env(old))
    row(f"Salesforce, {args.n:,} updates, {args.latency * 1000:.0f} ms per call, crmgate vs hand-written "
        "Collections (b), wall", now, before, unit="x", target="<= 1.10x", met=now <= 1.10, higher_is_better=False)


def _kinds(fake: SalesforceFake) -> str:
    counts: dict[str, int] = {}
    for c in fake.calls:
        counts[c.kind] = counts.get(c.kind, 0) + 1
    return ", ".join(f"{k} x{v}" for k, v in counts.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.020)
    parser.add_argument("--concurrency", type=int, default=4,
                        help="crmgate's crm.concurrency (its default is 4), and (c)'s PATCHes in flight")
    parser.add_argument("--skip-loop", action="store_true", help="skip (a), the slow per-record loop")
    parser.add_argument("--rounds", type=int, default=3, help="crmgate/(b) pairs per tree for the ROW line")
    parser.add_argument("--no-baseline", action="store_true", help="skip the ROW line (and the baseline tree)")
    parser.add_argument("--ratios", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ratios:  # the child: this interpreter's crmgate (current or baseline)
        print(json.dumps(ratios(args.n, args.latency, args.concurrency, args.rounds)))
        return
    n = args.n
    minimum = math.ceil(n / 2000) + (1 if n == 1 else math.ceil(n / 200))
    rows = []
    with tempfile.TemporaryDirectory() as tmp, SalesforceFake(latency=args.latency) as fake:
        lanes = args.concurrency
        contenders = [("crmgate (Gate.propose, trail)", lambda ids: run_crmgate(fake, ids, Path(tmp), lanes)),
                      ("crmgate, chunks not pipelined",
                       lambda ids: run_crmgate(fake, ids, Path(tmp) / "np", lanes, False)),
                      ("(b) hand-written Collections", lambda ids: run_collections(fake, ids)),
                      (f"(c) hand-written, {lanes} PATCHes at once", lambda ids: run_collections(fake, ids, lanes))]
        if not args.skip_loop:
            contenders.append(("(a) simple-salesforce get+update loop", lambda ids: run_plain_loop(fake, ids)))
        for name, run in contenders:
            ids = seed(fake, n)
            rows.append((name, run(ids)))
            print(f"  done: {name}", file=sys.stderr)
    print(f"{n} Lead updates, {args.latency * 1000:.0f} ms latency per API call; minimum calls = {minimum}; "
          f"concurrency {args.concurrency}")
    print(f"{'contender':40} {'API calls':>9} {'wall s':>8} {'applied':>8}  calls by kind")
    for name, r in rows:
        print(f"{name:40} {r['calls']:>9} {r['wall']:>8.2f} {r['applied']:>8}  {r['kinds']} {r['note']}")
    ours = rows[0][1]["wall"]
    print(f"pipelined vs not pipelined: {ours / rows[1][1]['wall']:.2f}x")
    for label, other in (("(b)", rows[2][1]["wall"]), ("(c)", rows[3][1]["wall"])):
        print(f"crmgate wall time vs {label}: {ours / other:.2f}x ({(ours - other) * 1000:+.0f} ms)")
    if not args.no_baseline:
        baseline_row(args)


if __name__ == "__main__":
    main()
