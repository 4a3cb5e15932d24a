"""Every figure of the scale targets table, each beside its baseline from the same run.

    .venv/bin/python benchmarks/scale.py            # all rows (about 30 minutes on 2 cores)
    .venv/bin/python benchmarks/scale.py --quick    # smaller sizes, same rows (a smoke run)
    .venv/bin/python benchmarks/scale.py --only export --only workers

Runs each benchmark script in its own process (one after another, so they do not share the CPU),
gathers the ``ROW|...`` lines they print through :func:`baseline.row` and prints them as one
Markdown table. The baseline is the code before the scale work (``baseline.BASELINE_REF``), laid
out and run by each script in the same run. A script that fails is reported, not hidden.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

PG = "postgresql://postgres@127.0.0.1:5432/test"
#: label -> (script, full-size arguments, --quick arguments); run in this order
SCRIPTS: dict[str, tuple[str, list[str], list[str]]] = {
    "propose": ("bench_propose.py", [], ["--single", "200", "--batches", "2", "--proposals", "2000"]),
    "salesforce": ("bench_salesforce.py", ["--skip-loop"], ["--skip-loop", "--rounds", "1"]),
    "workers": ("bench_workers.py", [], ["--per-worker", "1000", "--reps", "1", "--single", "100"]),
    "http": ("bench_http_workers.py", [], ["--seconds", "5"]),
    "http-pg": ("bench_http_workers.py", ["--store", PG], ["--store", PG, "--seconds", "5"]),
    "budget-direct": ("bench_budget.py", ["--direct"], ["--direct"]),  # fewer than 380 calls would fit the first free burst
    "budget-gate": ("bench_budget.py", [], []),
    "export": ("bench_export.py", [], ["--entries", "100000", "--small", "20000"]),
}


def run(script: str, args: list[str]) -> tuple[list[list[str]], str | None, float]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True)
    rows = [line.split("|")[1:] for line in proc.stdout.splitlines() if line.startswith("ROW|")]
    error = None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
    return rows, error, time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (the ratios are noisier)")
    ap.add_argument("--only", action="append", choices=sorted(SCRIPTS), help="run only this one (repeatable)")
    args = ap.parse_args()
    table: list[list[str]] = []
    failed = 0
    for label, (script, full, quick) in SCRIPTS.items():
        if args.only and label not in args.only:
            continue
        print(f"running {label}: {script} {' '.join(quick if args.quick else full)} ...", file=sys.stderr, flush=True)
        rows, error, secs = run(script, quick if args.quick else full)
        print(f"  {len(rows)} rows in {secs:.0f} s" + (f"; FAILED: {error}" if error else ""),
              file=sys.stderr, flush=True)
        failed += error is not None
        table += rows
    print("| figure | now | baseline (same run) | ratio | target | |")
    print("|---|---:|---:|---:|---|---|")
    for cells in table:
        print("| " + " | ".join(cells) + " |")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
