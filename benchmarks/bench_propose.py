"""The cost of ``Gate.propose`` on the embedded sandbox with a signed SQLite trail, beside the
pre-scale-work code (``benchmarks/baseline.py``) run in the same session. Prints figures and
``ROW|`` lines; asserts nothing about speed.

    .venv/bin/python benchmarks/bench_propose.py [--single 400] [--batches 5] [--proposals 10000]
        [--also REF ...] [--rounds N]

``--also REF`` runs the workload on one more commit (laid out like the baseline) and prints its
rows too, e.g. a branch with changes proposed for files another helper owns; it may be repeated
(``--also main --also s5-cpu-extra``). ``--rounds N`` runs every tree N times, the trees taking
turns, and reports each figure's median over the rounds: on a shared machine whose load moves,
trees measured one after the other once each can differ by the load alone.

Each tree runs the same workload in its own subprocess (current first, then baseline):

1. single proposal: one Lead create per ``Gate.propose`` call, median CPU (``process_time``) of
   ``--single`` calls after 50 warm-up calls. Everything the call does is counted: parsing the
   dict, validation, routing, the duplicate guard, the decision, both trail appends and the
   sandbox CRM's own work.
2. batches of 1,000: Lead creates (distinct emails, 97 companies), median over ``--batches``
   batches of the CPU per proposal. Printed twice: everything, and crmgate's own share (the
   CPU spent inside the sandbox adapter's calls taken out: that is the CRM's work). Parsing,
   validation, routing and deciding are included in both.
3. end to end: ``--proposals`` creates then as many updates (each update reads its before-image),
   in batches of 1,000, wall clock; proposals/s over both.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.baseline import baseline_env, baseline_tree, current_env, row  # noqa: E402


def _lead(i: int) -> dict:
    return {"object": "Lead", "op": "create", "actor": "ai:lead-intake-1",
            "fields": {"LastName": f"Lead {i}", "Company": f"Company {i % 97}", "Country": "DE",
                       "Email": f"lead{i}@example.com", "NumberOfEmployees": i % 5000, "Rating": "Warm"}}


def child(single: int, batches: int, proposals: int) -> dict:
    """The workload, in whichever ``crmgate`` this process imports (current or baseline)."""
    import crmgate
    from crmgate.adapters.sandbox.adapter import SandboxAdapter
    from crmgate.gate import Gate
    from crmgate.project.scaffold import example_rulebook
    from crmgate.rules.loader import parse_rulebook
    from crmgate.trail import TrailStore, generate_keypair, load_signer

    class Timed(SandboxAdapter):
        """The sandbox, counting the CPU spent inside its calls (the CRM's share, not crmgate's)."""

        cpu = 0.0

        def _timed(name: str):  # type: ignore[misc]
            def call(self, *args, **kwargs):
                start = time.process_time()
                try:
                    return getattr(SandboxAdapter, name)(self, *args, **kwargs)
                finally:
                    Timed.cpu += time.process_time() - start
            return call

        get_many = _timed("get_many")
        create_many = _timed("create_many")
        update_many = _timed("update_many")
        find_candidates = _timed("find_candidates")

    def gate_in(work: Path) -> Gate:
        generate_keypair(work / "k", work / "k.pub")
        store = TrailStore(f"sqlite:///{work / 'trail.db'}", signer=load_signer(work / "k", env={}))
        return Gate(rulebook=parse_rulebook(example_rulebook()), adapter=Timed(work / "crm.db"), store=store)

    out: dict = {"tree": str(Path(crmgate.__file__).parent)}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for name in ("single", "batch", "e2e"):
            (base / name).mkdir()
        gate = gate_in(base / "single")
        for i in range(50):
            gate.propose(_lead(i))
        cpu = []
        for i in range(single):
            item = _lead(1_000 + i)
            start = time.process_time()
            gate.propose(item)
            cpu.append(time.process_time() - start)
        gate.close()
        out["single_ms"] = statistics.median(cpu) * 1000

        gate = gate_in(base / "batch")
        gate.propose([_lead(i) for i in range(1_000)])  # warm-up
        total, own = [], []
        for b in range(batches):
            items = [_lead(10_000 + b * 1_000 + i) for i in range(1_000)]
            Timed.cpu = 0.0
            start = time.process_time()
            gate.propose(items)
            spent = time.process_time() - start
            total.append(spent / 1_000)
            own.append((spent - Timed.cpu) / 1_000)
        gate.close()
        out["batch_us"] = statistics.median(total) * 1e6
        out["batch_own_us"] = statistics.median(own) * 1e6

        gate = gate_in(base / "e2e")
        start = time.perf_counter()
        ids: list[str] = []
        for s in range(0, proposals, 1_000):
            ids += [o.record_id for o in gate.propose([_lead(100_000 + i)
                                                      for i in range(s, min(proposals, s + 1_000))])]
        for s in range(0, proposals, 1_000):
            gate.propose([{"object": "Lead", "op": "update", "record_id": rid, "actor": "ai:lead-intake-1",
                           "fields": {"Rating": "Hot"}} for rid in ids[s:s + 1_000]])
        out["e2e_per_s"] = 2 * proposals / (time.perf_counter() - start)
        gate.close()
    return out


def run(env: dict[str, str], args: argparse.Namespace) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", "--single", str(args.single),
                           "--batches", str(args.batches), "--proposals", str(args.proposals)],
                          env=env, capture_output=True, text=True, cwd="/")
    if done.returncode != 0:
        raise SystemExit(f"the benchmark child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--single", type=int, default=400)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--proposals", type=int, default=10_000)
    ap.add_argument("--also", action="append", default=[],
                    help="one more git ref to measure beside the working tree (repeatable)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every tree this many times, taking turns, and report medians")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.single, args.batches, args.proposals)))
        return
    with ExitStack() as stack:
        envs = [("current", current_env())]
        envs += [(ref, baseline_env(stack.enter_context(baseline_tree(ref)))) for ref in args.also]
        envs.append(("baseline", baseline_env(stack.enter_context(baseline_tree()))))
        runs: dict[str, list[dict]] = {label: [] for label, _ in envs}
        for n in range(args.rounds):
            for label, env in envs:  # the trees take turns: a load change hits every tree alike
                runs[label].append(run(env, args))
                if args.rounds > 1:
                    r = runs[label][-1]
                    print(f"round {n + 1} {label:9}: single {r['single_ms']:.2f} ms; batch own {r['batch_own_us']:.0f} us; "
                          f"end to end {r['e2e_per_s']:,.0f}/s", flush=True)
    medians = {label: _median(results) for label, results in runs.items()}
    before = medians.pop("baseline")
    trees = list(medians.items())
    for label, r in (*trees, ("baseline", before)):
        print(f"{label:9} {r['tree']}: single {r['single_ms']:.2f} ms CPU; batch {r['batch_us']:.0f} us CPU "
              f"per proposal ({r['batch_own_us']:.0f} us without the sandbox CRM's own); "
              f"end to end {r['e2e_per_s']:,.0f} proposals/s")
    for label, now in trees:
        if label != "current":
            print(f"-- with {label}:")
        rows(now, before, args)


def _median(results: list[dict]) -> dict:
    """Each figure's median over the rounds (the tree's path from the first)."""
    return {key: statistics.median(r[key] for r in results) if key != "tree" else results[0][key]
            for key in results[0]}


def rows(now: dict, before: dict, args: argparse.Namespace) -> None:
    row("CPU of one single-proposal Gate.propose (sandbox, signed SQLite trail)", now["single_ms"],
        before["single_ms"], unit="ms", target="<= 0.6 ms", met=now["single_ms"] <= 0.6, higher_is_better=False)
    row("crmgate's CPU per proposal, batches of 1,000 (parsing+routing+decide included, sandbox CRM's CPU excluded)",
        now["batch_own_us"], before["batch_own_us"], unit="us", target="<= 60 us",
        met=now["batch_own_us"] <= 60, higher_is_better=False)
    row(f"end to end on the sandbox, SQLite, {args.proposals:,} creates + {args.proposals:,} updates",
        now["e2e_per_s"], before["e2e_per_s"], unit="proposals/s", target=">= 10k/s",
        met=now["e2e_per_s"] >= 10_000)


if __name__ == "__main__":
    main()
