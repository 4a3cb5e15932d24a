"""The duplicate guard, measured. Prints figures; the thresholds are asserted in tests/duplicates.

    .venv/bin/python benchmarks/bench_duplicates.py [--pairs 1000] [--seed 17] [--existing 100000]
        [--creates 1000] [--batch 200]

1. Precision and recall of the example rulebook's default matching rules on the generated,
   labelled set (benchmarks/duplicate_pairs.py), per rule and per object.
2. On the sandbox: --creates intake creates (one in five a duplicate of an existing record in some
   disguise) against --existing records, through Gate.propose in batches of --batch: the
   candidate look-ups made, the outcomes, the time; and how many planted duplicates the guard
   caught end to end (the CRM look-up included, not only the matcher).
"""
from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.duplicate_pairs import FIRST, SUFFIXES, TRADES, evaluate, generate  # noqa: E402
from crmgate.adapters.sandbox.adapter import SandboxAdapter, salesforce_id  # noqa: E402
from crmgate.gate import Gate  # noqa: E402
from crmgate.project.scaffold import example_rulebook  # noqa: E402
from crmgate.rules.loader import parse_rulebook  # noqa: E402
from crmgate.trail import TrailStore, generate_keypair, load_signer  # noqa: E402


def bench_matcher(n: int, seed: int) -> None:
    rb = parse_rulebook(example_rulebook())
    pairs = generate(n, seed=seed)
    t = time.perf_counter()
    scores = evaluate(rb, pairs)
    dt = time.perf_counter() - t
    print(f"matcher on {n} labelled pairs (seed {seed}, {sum(p.duplicate for p in pairs)} duplicates), "
          f"{dt * 1000:.0f} ms")
    print(f"  {'rule':<36} {'precision':>9} {'recall':>7} {'matched':>8} {'meant':>6}")
    for key, s in scores.items():
        prec = "-" if s["precision"] is None else f"{s['precision']:.3f}"
        rec = "-" if s["recall"] is None else f"{s['recall']:.3f}"
        print(f"  {key:<36} {prec:>9} {rec:>7} {s['matched']:>8} {s['duplicates']:>6}")


_SYL = ["ka", "lo", "mi", "ren", "sa", "tor", "vel", "di", "bra", "no", "quin", "har", "zu", "pel", "mor",
        "ste", "gan", "li", "ros", "vik", "del", "an", "fi", "jor", "ul", "ber", "cas", "tan", "wen", "ox"]


def _word(r: random.Random, n: int) -> str:
    return "".join(r.choice(_SYL) for _ in range(n)).capitalize()


def _record(r: random.Random, obj: str, i: int) -> dict:
    first, last = r.choice(FIRST), _word(r, 3)
    company = f"{_word(r, 4)} {r.choice(TRADES)}"
    domain = f"{company.split()[0].lower()}{i}.example"
    if obj == "Account":
        return {"Name": f"{company} {r.choice(SUFFIXES)}", "Website": f"https://www.{domain}/"}
    if obj == "Contact":
        return {"FirstName": first, "LastName": last, "Email": f"{first}.{last}@{domain}".lower()}
    return {"FirstName": first, "LastName": last, "Company": company, "Email": f"{last}@{domain}".lower()}


def _existing(r: random.Random, i: int) -> tuple[str, dict]:
    obj = ("Account", "Contact", "Lead")[i % 3]
    return obj, _record(r, obj, i)


def _seed(path: Path, n: int, seed: int) -> list[tuple[str, str, dict]]:
    """``n`` records written straight into the sandbox file (the adapter's create path would take
    minutes and is not what is measured)."""
    SandboxAdapter(path).close()
    r = random.Random(seed)
    rows, out = [], []
    prefixes = {"Account": "001", "Contact": "003", "Lead": "00Q"}
    counters: Counter[str] = Counter()
    stamp = "2026-12-01T09:00:00.000Z"
    for i in range(n):
        obj, fields = _existing(r, i)
        counters[obj] += 1
        rid = salesforce_id(prefixes[obj], counters[obj])
        rows.append((rid, obj, json.dumps(fields), stamp, "seed", stamp, "seed", stamp))
        out.append((obj, rid, fields))
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO sandbox_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)", rows)
        conn.executemany("INSERT INTO sandbox_counters VALUES (?, ?) ON CONFLICT (object) DO UPDATE SET next = excluded.next",
                         list(counters.items()))
    return out


def _creates(r: random.Random, existing: list[tuple[str, str, dict]], n: int) -> tuple[list[dict], int]:
    out, planted = [], 0
    for i in range(n):
        if i % 5 == 0:  # a duplicate in disguise
            obj, _, f = r.choice(existing)
            planted += 1
            if obj == "Account":
                fields = {"Name": f["Name"].upper().replace(" ", ", ", 1) if r.random() < .5 else f["Name"] + " Inc."}
            else:
                fields = {k: v for k, v in f.items()}
                fields["Email"] = f["Email"].upper()
        else:
            obj = ("Account", "Contact", "Lead")[i % 3]
            fields = _record(r, obj, 10_000_000 + i)
        out.append({"object": obj, "op": "create", "actor": "ai:intake-1", "fields": fields})
    return out, planted


def bench_sandbox(existing_n: int, creates_n: int, batch: int, seed: int, work: Path) -> None:
    t = time.perf_counter()
    existing = _seed(work / "crm.db", existing_n, seed)
    print(f"\nsandbox: {existing_n:,} existing records written in {time.perf_counter() - t:.1f} s")
    generate_keypair(work / "k", work / "k.pub")
    store = TrailStore(f"sqlite:///{work / 'trail.db'}", signer=load_signer(work / "k", env={}))
    crm = SandboxAdapter(work / "crm.db")
    gate = Gate(rulebook=parse_rulebook(example_rulebook()), adapter=crm, store=store)
    creates, planted = _creates(random.Random(seed + 1), existing, creates_n)
    statuses: Counter[str] = Counter()
    caught = 0
    t = time.perf_counter()
    for start in range(0, creates_n, batch):
        for i, o in enumerate(gate.propose(creates[start:start + batch]), start):
            statuses[o.status] += 1
            caught += (i % 5 == 0) and "duplicates" in o.extra
    dt = time.perf_counter() - t
    looks = [c for c in crm.calls if c[0] == "find_candidates"]
    print(f"{creates_n:,} creates in batches of {batch}: {dt:.2f} s ({creates_n / dt:,.0f} creates/s, "
          f"guard, decision, trail and writes included)")
    print(f"  candidate look-ups: {len(looks)} ({len(looks) / -(-creates_n // batch):.0f} per batch: one per object)")
    print(f"  outcomes: {dict(statuses)}; planted duplicates caught end to end: {caught}/{planted}")
    crm.close()
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--existing", type=int, default=100_000)
    ap.add_argument("--creates", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=200)
    args = ap.parse_args()
    bench_matcher(args.pairs, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        bench_sandbox(args.existing, args.creates, args.batch, args.seed, Path(tmp))


if __name__ == "__main__":
    main()
