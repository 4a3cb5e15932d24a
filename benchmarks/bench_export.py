"""Auditor exports at scale: export + offline verify time and peak memory. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_export.py [--entries 100000] [--store URL]

Builds a signed trail of N realistic entries (batches of 1,000), then for JSONL (unfiltered and
filtered to one actor in four) and CSV (unfiltered): exports, then verifies offline. Each step is
timed without tracing, then run again under tracemalloc for its peak Python heap, so the two can
be compared across N (flat memory means the peak does not grow with N).
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from crmgate.audit.export import ExportFilters, export_trail
from crmgate.audit.verify_export import verify_export
from crmgate.trail import NewEntry, TrailStore, generate_keypair, load_public_key, load_signer


def entry(n: int) -> NewEntry:
    return NewEntry(kind="write.intent", proposal_id=f"prp_{n}", batch_id=f"bat_{n // 1000}", change_id=f"chg_{n}",
                    actor=f"ai:agent-{n % 4}", use_case="deal_hygiene", object="Opportunity",
                    record_id=f"006{n:015d}", op="update",
                    data={"changes": [{"field": "NextStep", "before": "Call", "after": f"Send proposal {n}"},
                                      {"field": "Amount", "before": 1000 + n, "after": 1200 + n}],
                          "expected_version": "2026-11-22T09:00:00.000Z", "idempotency_key": f"chg_{n}"})


def measure(label: str, fn) -> None:
    t = time.perf_counter()
    result = fn()
    dt = time.perf_counter() - t
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:<34} {dt:7.2f} s   peak Python heap {peak / 2**20:6.1f} MiB   {result}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--store", default=None, help="an EMPTY store URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        generate_keypair(work / "k", work / "k.pub")
        signer, key = load_signer(work / "k", env={}), load_public_key(work / "k.pub")
        store = TrailStore(args.store or f"sqlite:///{work / 'trail.db'}", signer=signer)
        t = time.perf_counter()
        for start in range(0, args.entries, 1000):
            store.append([entry(n) for n in range(start, min(args.entries, start + 1000))])
        print(f"trail of {args.entries:,} entries appended in {time.perf_counter() - t:.1f} s")
        for fmt, filters, name in (("jsonl", ExportFilters(), "all.jsonl"),
                                   ("jsonl", ExportFilters(actor="ai:agent-1"), "one.jsonl"),
                                   ("csv", ExportFilters(), "all.csv")):
            out = work / name
            label = f"{fmt} {'filtered 1/4' if filters.actor else 'unfiltered'}"

            def do_export(out=out, fmt=fmt, filters=filters) -> str:
                m = export_trail(store, out, fmt=fmt, filters=filters, signer=signer)
                return f"{m['entries']:,} entries, {m['bytes'] / 2**20:.0f} MiB"

            def do_verify(out=out) -> str:
                report = verify_export(out, key)
                assert report.ok, report.problems
                return f"ok, {report.entries:,} entries in a chain of {report.chain_entries:,}"

            measure(f"export  {label}", do_export)
            measure(f"verify  {label}", do_verify)
        store.close()
    print(f"max RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
