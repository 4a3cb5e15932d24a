"""Worker processes on one PostgreSQL trail store: do more workers add up? Asserts nothing.

    .venv/bin/python benchmarks/bench_workers.py [--per-worker 3000] [--batch 100] [--reps 3]
        [--pg postgresql://postgres@127.0.0.1:5432] [--single 300]

N worker processes (1, 2, 4), each a Gate on its own sandbox CRM (a SQLite file per worker: the
figure is about the shared trail, not a shared fake CRM), all on ONE PostgreSQL trail store (a
fresh schema of a scratch database per run), propose lead creates of the example rulebook in
batches of --batch, every fourth with an idempotency key. Workers set up first, then start
together; the figure is all proposals / (last worker's end - first worker's start). The same runs
go against the baseline tree (benchmarks/baseline.py) in the same session, interleaved; medians
of --reps. --single repeats the 1/2/4 runs with one proposal per call. The PostgreSQL server
shares the machine's cores with the workers. A sampler of pg_stat_activity also prints how often
some backend waited on a lock, and how often a backend blocking it was waiting for its own client
(a lock held across a client round trip). ``--against REF`` runs REF (e.g. main) in the
baseline's place, for an A/B of a branch (its figures are then printed as "baseline").

Wall-clock ratios move with whatever else the machine runs; the CPU per proposal does much less,
so each run also prints it (from /proc/PID/task/*/schedstat: the workers' processes and the run's
server backends, between "go" and the last report), with the time spent waiting for a CPU, the
sampler's own CPU (it competes with the workers for the same cores), how far apart the
workers finished (a worker left running alone leaves a core idle), and the share of the machine's
CPU that other processes took meanwhile (/proc/stat: when it is high, the wall-clock ratios say
little about a quiet machine; the CPU per proposal still compares).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
PG = "postgresql://postgres@127.0.0.1:5432"
DB = f"crmgate_bench_{os.getpid()}"  # per run: two runs at once must not drop each other's database


def lead(w: int, i: int) -> dict:
    p = {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
         "fields": {"LastName": f"Lead {w}-{i}", "Company": f"Company {i % 97}", "Country": "DE",
                    "Email": f"lead{w}x{i}@example.com", "NumberOfEmployees": i % 5000, "Rating": "Warm"}}
    if i % 4 == 0:
        p["idempotency_key"] = f"w{w}-{i}"
    return p


def worker(args: argparse.Namespace) -> None:
    """One worker process: set up, say ready, wait for "go" on stdin, propose, report."""
    import crmgate
    from crmgate.adapters.sandbox.adapter import SandboxAdapter
    from crmgate.gate import Gate
    from crmgate.project.scaffold import example_rulebook
    from crmgate.rules.loader import parse_rulebook
    from crmgate.trail import TrailStore, load_signer

    store = TrailStore(args.store, signer=load_signer(Path(args.key), env={}))
    gate = Gate(rulebook=parse_rulebook(example_rulebook()), adapter=SandboxAdapter(Path(args.crm)), store=store)
    gate.propose(lead(args.w, -1))  # warm: tables, statement caches
    work = [lead(args.w, i) for i in range(args.n)]
    print("ready", flush=True)
    sys.stdin.readline()
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.time()
    for s in range(0, args.n, args.batch):
        gate.propose(work[s:s + args.batch])
    end = time.time()
    after = resource.getrusage(resource.RUSAGE_SELF)
    stats = getattr(store, "lock_stats", None)
    print(json.dumps({"start": start, "end": end, "n": args.n, "tree": crmgate.__file__,
                      "held_s": getattr(stats, "held_s", None), "waited_s": getattr(stats, "waited_s", None),
                      "appends": getattr(stats, "appends", None),
                      "cpu_s": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
                      "switches": after.ru_nvcsw + after.ru_nivcsw - before.ru_nvcsw - before.ru_nivcsw}),
          flush=True)
    sys.stdin.readline()  # the orchestrator reads the server backends' CPU while they still exist
    gate.close()


def psql(sql: str, db: str = "postgres") -> None:
    subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", sql],
                   check=True, capture_output=True)


def sched(pids: list[int]) -> dict[int, tuple[int, int, int]]:
    """Per process (all its threads): ns on a CPU, ns waiting on a run queue for one, and times
    it was scheduled in (/proc/PID/task/*/schedstat); processes gone are left out."""
    out = {}
    for pid in pids:
        total = [0, 0, 0]
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    for i, v in enumerate(f.read().split()[:3]):
                        total[i] += int(v)
        except OSError:
            continue
        out[pid] = tuple(total)
    return out


def busy_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (every process, /proc/stat)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def backends() -> list[int]:
    """The server processes of the run's database (the sampler's connection is elsewhere)."""
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        return [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (DB,))]


def spent(before: dict, after: dict) -> tuple[float, float, int]:
    """CPU s, run-queue wait s and times scheduled between two :func:`sched` readings (a process
    that appeared in between counts from zero)."""
    d = [sum(after[p][i] - before.get(p, (0, 0, 0))[i] for p in after) for i in range(3)]
    return d[0] / 1e9, d[1] / 1e9, d[2]


class LockSampler(threading.Thread):
    """Samples pg_stat_activity of the run's database every few ms: how often some backend waits
    on a lock, and how often a backend blocking it is itself waiting for its client (a lock held
    across a client round trip; ``ClientRead``). Diagnostics only."""

    def __init__(self, every: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.every, self.cpu_s = every, 0.0
        self.stop, self.samples, self.waiting, self.blockers, self.on_client = threading.Event(), 0, 0, 0, 0

    def run(self) -> None:
        import psycopg

        start = time.thread_time()
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            server = sched([pid])
            while not self.stop.wait(self.every):
                rows = conn.execute("SELECT pid, wait_event, wait_event_type = 'Lock' FROM pg_stat_activity "
                                    "WHERE datname = %s", (DB,)).fetchall()
                self.samples += 1
                # pg_blocking_pids takes every lock-manager partition lock: only for a backend seen
                # waiting on a lock, or the sampler itself would stall the appends it watches
                waiters = [pid for pid, _, on_lock in rows if on_lock]
                blocking = {b for (bs,) in conn.execute("SELECT pg_blocking_pids(p) FROM unnest(%s::int[]) p",
                                                        (waiters,))
                            for b in bs} if waiters else set()
                self.waiting += bool(blocking)
                self.blockers += len(blocking)
                self.on_client += sum(1 for pid, event, _ in rows if pid in blocking and event == "ClientRead")
            self.cpu_s = time.thread_time() - start + spent(server, sched([pid]))[0]


def one_run(env: dict, n_workers: int, per_worker: int, batch: int, work: Path, key: Path) -> dict:
    schema = "r" + uuid.uuid4().hex[:12]
    psql(f"CREATE SCHEMA {schema}", DB)
    url = f"{PG}/{DB}?options=-csearch_path%3D{schema}"
    procs = []
    try:
        for w in range(n_workers):
            crm = work / f"{schema}-{w}.db"
            procs.append(subprocess.Popen(
                [sys.executable, str(HERE), "--worker", "--store", url, "--crm", str(crm), "--key", str(key),
                 "--w", str(w), "--n", str(per_worker), "--batch", str(batch)],
                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        servers = backends()
        clients0, servers0, machine0 = sched([p.pid for p in procs]), sched(servers), busy_s()
        sampler = LockSampler()
        sampler.start()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        reports = [json.loads(p.stdout.readline()) for p in procs]
        servers = sorted(set(servers) | set(backends()))
        clients1, servers1, machine1 = sched([p.pid for p in procs]), sched(servers), busy_s()
        sampler.stop.set()
        sampler.join()
        for p in procs:
            p.stdin.write("bye\n")
            p.stdin.flush()
            p.wait(timeout=120)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        psql(f"DROP SCHEMA {schema} CASCADE", DB)
    wall = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    held = [r["held_s"] for r in reports if r["held_s"] is not None]
    n = sum(r["n"] for r in reports)
    client, server = spent(clients0, clients1), spent(servers0, servers1)
    return {"rate": n / wall, "wall": wall, "tree": reports[0]["tree"],
            "client_us": client[0] / n * 1e6, "server_us": server[0] / n * 1e6,
            "queued_us": (client[1] + server[1]) / n * 1e6, "switches": (client[2] + server[2]) / n,
            "lost": len(set(servers0) - set(servers1)), "sampler_us": sampler.cpu_s / n * 1e6,
            "spread": (max(r["end"] for r in reports) - min(r["end"] for r in reports)) / wall,
            # what the rest of the machine took of its cores meanwhile (the sampler counted in)
            "others": max(0.0, machine1 - machine0 - client[0] - server[0]) / (wall * (os.cpu_count() or 1)),
            "held": sum(held) / wall if held else None, "waiting": sampler.waiting / max(1, sampler.samples),
            "on_client": sampler.on_client / max(1, sampler.blockers)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for name in ("store", "crm", "key"):
        ap.add_argument(f"--{name}", help=argparse.SUPPRESS)
    ap.add_argument("--w", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--per-worker", type=int, default=3000)
    ap.add_argument("--single", type=int, default=300, help="proposals per worker one at a time (0: skip)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--against", default=None,
                    help="a git ref to run instead of the baseline (e.g. main: an A/B of a branch)")
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    from baseline import baseline_env, baseline_tree, current_env, row

    psql(f"DROP DATABASE IF EXISTS {DB}")
    psql(f"CREATE DATABASE {DB}")
    counts = [int(x) for x in args.workers.split(",")]
    modes = [("batches of %d" % args.batch, args.per_worker, args.batch)]
    if args.single:
        modes.append(("single proposals", args.single, 1))
    with tempfile.TemporaryDirectory() as tmp, (baseline_tree(args.against) if args.against else baseline_tree()) as old:
        work = Path(tmp)
        subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                        "from crmgate.trail import generate_keypair; "
                        "generate_keypair(Path(sys.argv[1]), Path(sys.argv[2]))", str(work / "k"), str(work / "k.pub")],
                       check=True, env=current_env())
        envs = {"current": current_env(), "baseline": baseline_env(old)}
        for label, per_worker, batch in modes:
            rates: dict[tuple[str, int], list[float]] = {}
            held: dict[int, list[float]] = {}
            locks: dict[tuple[str, int], list[tuple[float, float]]] = {}
            cpu: dict[tuple[str, int], list[tuple[float, ...]]] = {}
            for _ in range(args.reps):
                for n in counts:
                    for tree in ("baseline", "current"):
                        r = one_run(envs[tree], n, per_worker, batch, work, work / "k")
                        assert ("crmgate-baseline-" in r["tree"]) == (tree == "baseline"), r["tree"]
                        rates.setdefault((tree, n), []).append(r["rate"])
                        locks.setdefault((tree, n), []).append((r["waiting"], r["on_client"]))
                        cpu.setdefault((tree, n), []).append(
                            (r["client_us"], r["server_us"], r["queued_us"], r["switches"], r["sampler_us"],
                             r["spread"], r["others"]))
                        if tree == "current" and r["held"] is not None:
                            held.setdefault(n, []).append(r["held"])
            med = {k: statistics.median(v) for k, v in rates.items()}
            print(f"\n{label}: proposals/s on one PostgreSQL store (medians of {args.reps})")
            for n in counts:
                print(f"  {n} worker(s): current {med[('current', n)]:8,.0f}/s   baseline {med[('baseline', n)]:8,.0f}/s"
                      f"   head lock held {statistics.median(held.get(n, [0])):.0%} of the wall time")
                waits = {t: [statistics.median(x) for x in zip(*locks[(t, n)])] for t in ("current", "baseline")}
                print(f"      someone waiting on a lock: current {waits['current'][0]:.0%}, baseline "
                      f"{waits['baseline'][0]:.0%} of the samples; of the backends blocking them, waiting for "
                      f"their own client: current {waits['current'][1]:.0%}, baseline {waits['baseline'][1]:.0%}")
                for t in ("current", "baseline"):
                    c = [statistics.median(x) for x in zip(*cpu[(t, n)])]
                    print(f"      {t:8} per proposal: CPU {c[0]:6.0f} us workers + {c[1]:5.0f} us server = "
                          f"{c[0] + c[1]:6.0f} us; {c[2]:6.0f} us waiting for a CPU; scheduled in {c[3]:5.1f} times; "
                          f"lock sampler {c[4]:4.0f} us; ends spread over {c[5]:.0%} of the wall time; "
                          f"other processes took {c[6]:.0%} of the machine")
            if 1 in counts and 2 in counts:
                cur, base = med[("current", 2)] / med[("current", 1)], med[("baseline", 2)] / med[("baseline", 1)]
                row(f"2 workers / 1 worker, {label}", cur, base, unit="x", target=">= 1.7x", met=cur >= 1.7)
            if 2 in counts and 4 in counts:
                cur, base = med[("current", 4)] / med[("current", 2)], med[("baseline", 4)] / med[("baseline", 2)]
                row(f"4 workers / 2 workers, {label}", cur, base, unit="x", target=">= 1.0x", met=cur >= 1.0)
    psql(f"DROP DATABASE IF EXISTS {DB}")


if __name__ == "__main__":
    main()
