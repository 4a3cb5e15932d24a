"""Auditor exports at scale: export and offline verify, this code beside the baseline. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_export.py [--entries 1000000] [--small 200000] [--skip-baseline]
        [--work DIR] [--formats jsonl,csv] [--also REF ...]

Builds one signed SQLite trail of realistic entries (``TrailStore.append`` in batches of 1,000),
first to ``--small`` entries, then on to ``--entries``. At each size it runs, each step in its own
process: JSONL export, CSV export, JSONL verify, CSV verify (unfiltered, every entry). At the full
size the baseline code (``benchmarks/baseline.py``: the tree before the scale work) runs the same
four steps on the SAME store database, each in its own process too. Each step reports its wall time,
its CPU time and the peak resident set size of the process that did the work (``ru_maxrss``: the
whole process, not only the Python heap), and of its worker process when it had one (a large CSV
export renders its rows in one; a large CSV verify renders and compares them in one), so the two
sizes show whether memory stays flat. On a busy machine the wall times say little: read the CPU
of the process and of its worker (a step's wall on a free machine is about the larger of the two).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline import baseline_env, baseline_tree, current_env, row  # noqa: E402

STEPS = (("export", "jsonl"), ("export", "csv"), ("verify", "jsonl"), ("verify", "csv"))
TARGET_S = 10.0


def entry(n: int):  # -> NewEntry
    from crmgate.trail import NewEntry
    return NewEntry(kind="write.intent", proposal_id=f"prp_{n}", batch_id=f"bat_{n // 1000}", change_id=f"chg_{n}",
                    actor=f"ai:agent-{n % 4}", use_case="deal_hygiene", object="Opportunity",
                    record_id=f"006{n:015d}", op="update",
                    data={"changes": [{"field": "NextStep", "before": "Call", "after": f"Send proposal {n}"},
                                      {"field": "Amount", "before": 1000 + n, "after": 1200 + n}],
                          "expected_version": "2026-11-22T09:00:00.000Z", "idempotency_key": f"chg_{n}"})


def grow(work: Path, upto: int) -> float:
    """Append entries to the trail at ``work`` until it holds ``upto``; return the seconds taken."""
    from crmgate.trail import TrailStore, load_signer
    store = TrailStore(f"sqlite:///{work / 'trail.db'}", signer=load_signer(work / "k", env={}))
    started = time.perf_counter()
    for start in range(store.head()[0], upto, 1000):
        store.append([entry(n) for n in range(start, min(upto, start + 1000))])
    store.close()
    return time.perf_counter() - started


def child(step: str, fmt: str, work: Path, out: Path) -> None:
    """One step in this process (whichever ``crmgate`` is on the path); prints a JSON line."""
    from crmgate.audit.export import export_trail
    from crmgate.audit.verify_export import verify_export
    from crmgate.trail import TrailStore, load_public_key, load_signer
    started, cpu = time.perf_counter(), time.process_time()
    if step == "export":
        store = TrailStore(f"sqlite:///{work / 'trail.db'}", create=False)
        manifest = export_trail(store, out, fmt=fmt, signer=load_signer(work / "k", env={}))
        store.close()
        detail = {"entries": manifest["entries"], "rows": manifest["rows"],
                  "bytes": sum(f.stat().st_size for f in out.parent.glob(out.name + "*"))}
    else:
        report = verify_export(out, load_public_key(work / "k.pub"))
        if not report.ok:
            raise SystemExit(f"verify failed: {report.problems[:3]}")
        detail = {"entries": report.entries}
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # a large CSV export's or verify's worker process
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, "rss_mib": rss_kib / 1024, "child_cpu_s": kids.ru_utime +
                      kids.ru_stime, "child_rss_mib": kids.ru_maxrss / 1024, **detail}))


def run_step(step: str, fmt: str, work: Path, out: Path, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", step, fmt, str(work), str(out)],
                          env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise SystemExit(f"{step} {fmt} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_all(work: Path, label: str, env: dict[str, str],
            steps: tuple[tuple[str, str], ...] = STEPS) -> dict[tuple[str, str], dict]:
    results = {}
    for step, fmt in steps:
        out = work / f"{label}.{fmt}"
        results[(step, fmt)] = r = run_step(step, fmt, work, out, env)
        size = f"   {r['bytes'] / 2**20:6.0f} MiB on disk" if "bytes" in r else ""
        kid = (f" + worker {r['child_cpu_s']:5.2f} s" if r.get("child_cpu_s") else "")
        kid_rss = (f" + worker {r['child_rss_mib']:4.0f} MiB" if r.get("child_cpu_s") else "")
        print(f"  {label:<9} {step:<6} {fmt:<5} {r['seconds']:7.2f} s (CPU {r.get('cpu_s', 0):6.2f} s{kid})   "
              f"peak RSS {r['rss_mib']:6.0f} MiB{kid_rss}{size}", flush=True)
        if step == "verify":  # keep the disk use bounded: the exports of this label are done with
            for f in work.glob(f"{label}.{fmt}*"):
                f.unlink()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=None, help="the smaller size for the RSS comparison "
                                                                 "(default: entries / 5)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the trails (and their keys) in this folder, one subfolder per size, and reuse "
                             "them on the next run (growing a 1M-entry trail takes a minute or more); "
                             "default: one trail in a temporary folder, grown from the small size on")
    parser.add_argument("--also", action="append", default=[], metavar="REF",
                        help="also run the steps at the full size on this commit (laid out like the baseline), "
                             "e.g. --also main: an A/B in the same run")
    parser.add_argument("--formats", default="jsonl,csv", help="which formats to run (default: jsonl,csv)")
    parser.add_argument("--child", nargs=4, metavar=("STEP", "FMT", "WORK", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, fmt, work, out = args.child
        child(step, fmt, Path(work), Path(out))
        return
    from crmgate.trail import generate_keypair
    small = args.small or args.entries // 5
    steps = tuple(s for s in STEPS if s[1] in args.formats.split(","))
    with ExitStack() as stack:
        tmp = None if args.work else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crmgate-bench-")))
        sizes: dict[int, dict] = {}
        for n in (small, args.entries):
            # one trail grown from the small size on (a temporary folder), or one kept per size (--work)
            work = tmp or args.work / str(n)
            work.mkdir(parents=True, exist_ok=True)
            if not (work / "k.pub").is_file():
                generate_keypair(work / "k", work / "k.pub")
            print(f"trail grown to {n:,} entries in {grow(work, n):.1f} s", flush=True)
            sizes[n] = run_all(work, f"now-{n}", current_env(), steps)
        for ref in args.also:
            with baseline_tree(ref) as tree:
                run_all(work, ref[:9], baseline_env(tree), steps)
        base = None
        if not args.skip_baseline:
            with baseline_tree() as tree:
                base = run_all(work, "baseline", baseline_env(tree), steps)
    now = sizes[args.entries]
    print(f"\npeak RSS of the process doing each step (MiB): {small:,} entries -> {args.entries:,} entries")
    for key in steps:
        extra = f"   baseline at {args.entries:,}: {base[key]['rss_mib']:.0f}" if base else ""
        kid = (f"   (its worker process {sizes[small][key]['child_rss_mib']:.0f} -> {now[key]['child_rss_mib']:.0f})"
               if now[key].get("child_cpu_s") else "")
        print(f"  {key[0]} {key[1]:<5} {sizes[small][key]['rss_mib']:6.0f} -> {now[key]['rss_mib']:6.0f}{kid}{extra}")
    if base:
        print()
        for step, fmt in steps:
            value, was = now[(step, fmt)]["seconds"], base[(step, fmt)]["seconds"]
            row(f"{args.entries:,}-entry trail: {fmt.upper()} {step}", value, was, unit="s",
                target=f"<= {TARGET_S:g} s, flat memory", met=value <= TARGET_S and args.entries >= 1_000_000, higher_is_better=False)


if __name__ == "__main__":
    main()
