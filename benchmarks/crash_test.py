"""Crash test: a worker proposing N keyed creates and updates is SIGKILLed at seeded random points,
restarted with the same keys each time, then `crmgate reconcile` runs. Prints the figures.

    python benchmarks/crash_test.py                       # 10,000 proposals, 30 kills, SQLite store
    python benchmarks/crash_test.py --n 10000 --kills 22 --store postgresql://127.0.0.1:5432/test

Required result: 0 unresolved or unknown changes, every proposal applied exactly once, 0 duplicates,
0 mismatches between the trail and the CRM, and `crmgate trail verify` passing. Exit 0 only then.
The worker (``--worker``) runs in its own process; a kill lands a seeded random few milliseconds
after a seeded random batch, so some land between a write's intent and its result.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

BATCH = 20
CLI = [sys.executable, "-c", "from crmgate.doors.cli import main; main()"]


def proposals(n: int, update_ids: list[str]) -> list[dict[str, Any]]:
    """Half creates, half updates of distinct existing Leads; every one keyed; deterministic."""
    out = []
    for i in range(n):
        if i % 2 == 0:
            out.append({"object": "Lead", "op": "create", "actor": "ai:lead-intake-1", "idempotency_key": f"crash-{i}",
                        "fields": {"LastName": f"crash-{i}", "Company": "Crash Test Ltd"}})
        else:
            out.append({"object": "Lead", "op": "update", "actor": "ai:lead-intake-1", "idempotency_key": f"crash-{i}",
                        "record_id": update_ids[i // 2], "fields": {"NumberOfEmployees": i}})
    return out


def setup(workdir: Path, n: int, store: str | None, recovery: str = "start") -> Path:
    """A crmgate project, a schema of its own on PostgreSQL, and n/2 existing Leads to update."""
    from click.testing import CliRunner

    from crmgate.adapters.base import CreateRequest
    from crmgate.adapters.sandbox.adapter import SandboxAdapter
    from crmgate.doors.cli import cli

    project = workdir / "project"
    result = CliRunner().invoke(cli, ["init", str(project)])
    assert result.exit_code == 0, result.output
    config = project / "crmgate.yaml"
    text = config.read_text()
    if store:
        import psycopg

        schema = f"crash_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(store, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        (workdir / "schema").write_text(schema)
        sep = "&" if "?" in store else "?"
        text = text.replace("store: sqlite:///trail.db", f"store: '{store}{sep}options=-csearch_path%3D{schema}'")
    # one worker at a time: an orphan is any write in flight when a worker starts. "repeat": not
    # reconciled at start, but when the restarted worker repeats the orphan's key
    on_start = "true" if recovery == "start" else "false"
    config.write_text(text + f"recovery: {{on_start: {on_start}, grace_s: 0}}\n")
    with SandboxAdapter(project / "sandbox.db") as crm:
        made = crm.create_many("Lead", [CreateRequest({"LastName": f"upd-{i}", "Company": "Crash Test Ltd"})
                                        for i in range((n + 1) // 2)])
    (workdir / "update_ids.json").write_text(json.dumps([r.id for r in made]))
    return config


def worker(config: Path, n: int) -> None:
    """Propose every proposal in batches, printing progress after each batch (the parent kills us)."""
    from crmgate import Gate, load_config

    ids = json.loads((config.parent.parent / "update_ids.json").read_text())
    items = proposals(n, ids)
    with Gate.from_config(load_config(config)) as gate:
        print("ready", flush=True)
        for b in range(0, n, BATCH):
            gate.propose(items[b:b + BATCH])
            print(f"batch {b // BATCH}", flush=True)
    print("done", flush=True)


def run_worker(config: Path, n: int, kill_after_batch: int | None, fraction: float) -> bool:
    """One worker process; SIGKILL it ``fraction`` of a batch's duration (as last measured) after
    it reports batch ``kill_after_batch``, so kills land anywhere inside the next batch, its CRM
    writes included. True when it was killed (False: it finished)."""
    cmd = [sys.executable, __file__, "--worker", "--config", str(config), "--n", str(n)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    killed = False
    target = None if kill_after_batch is None else "ready" if kill_after_batch < 0 else f"batch {kill_after_batch}"
    last, interval = time.perf_counter(), 0.02
    for line in proc.stdout:
        now = time.perf_counter()
        if line.startswith("batch"):
            interval, last = now - last, now
        elif line.startswith("ready"):
            last = now
        if line.strip() == target:
            time.sleep(fraction * interval)
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        if line.strip() == "done":
            break
    proc.wait()
    return killed


def check(config: Path, n: int) -> dict[str, Any]:
    """Compare the trail with the CRM after `crmgate reconcile`."""
    import sqlalchemy as sa

    from crmgate import load_config, tables
    from crmgate.adapters.sandbox.adapter import SandboxAdapter
    from crmgate.audit.status import summarize
    from crmgate.trail import TrailStore

    cfg = load_config(config)
    ids = json.loads((config.parent.parent / "update_ids.json").read_text())
    store = TrailStore(cfg.store, create=False)
    by_proposal: dict[str, list] = {}
    recovered = {"found_applied": 0, "written_again": 0}
    for e in store.iter_entries(page=5000):
        if e.kind == "write.reconciled" and e.data.get("status") == "ok":
            recovered["found_applied"] += 1
        elif e.kind == "write.result" and e.data.get("redrive"):
            recovered["written_again"] += 1
        if e.proposal_id:
            by_proposal.setdefault(e.proposal_id, []).append(e)
    with store.engine.connect() as conn:
        outcomes = tables.stored_outcomes(conn, {f"crash-{i}" for i in range(n)})
        in_flight = conn.execute(sa.select(sa.func.count()).select_from(tables.inflight)).scalar_one()
    views = {pid: summarize(es) for pid, es in by_proposal.items()}
    statuses: dict[str, int] = {}
    for v in views.values():
        statuses[v["status"]] = statuses.get(v["status"], 0) + 1
    crm = SandboxAdapter(Path(cfg.crm.path))  # type: ignore[union-attr]
    conn = crm._connection()
    names: dict[str, int] = {}
    for (fields,) in conn.execute("SELECT fields FROM sandbox_records WHERE object='Lead' AND is_deleted=0"):
        name = json.loads(fields).get("LastName", "")
        if name.startswith("crash-"):
            names[name] = names.get(name, 0) + 1
    current = crm.get_many("Lead", ids)
    missing, mismatches, not_applied = 0, 0, 0
    for i in range(n):
        out = outcomes.get(f"crash-{i}")
        if out is None or out["status"] != "applied":
            not_applied += 1
        if i % 2 == 0:
            count = names.get(f"crash-{i}", 0)
            missing += count == 0
            if out and out.get("record_id") and count and out["status"] == "applied":
                rec = crm.get_many("Lead", [out["record_id"]]).get(out["record_id"])
                mismatches += rec is None or rec.fields.get("LastName") != f"crash-{i}"
        else:
            rec = current.get(ids[i // 2])
            value = rec.fields.get("NumberOfEmployees") if rec else None
            missing += value != i
            mismatches += bool(out and out["status"] == "applied" and value != i)
    crm.close()
    store.close()
    verify = subprocess.run([*CLI, "--config", str(config), "trail", "verify"],
                            capture_output=True, text=True)
    return {"proposals": n, "statuses": statuses, "in_flight_rows": in_flight, "reconciled": recovered,
            "unresolved_or_unknown": sum(statuses.get(s, 0) for s in ("unresolved", "unknown", "approving")),
            "keys_not_applied": not_applied, "missing_in_crm": missing,
            "duplicates": sum(c - 1 for c in names.values() if c > 1), "mismatches": mismatches,
            "trail_verify_ok": verify.returncode == 0}


def crash_test(n: int, kills: int, seed: int, store: str | None, workdir: Path,
               recovery: str = "start") -> dict[str, Any]:
    try:
        return _crash_test(n, kills, seed, store, workdir, recovery)
    finally:
        if store and (workdir / "schema").exists():  # leave the PostgreSQL server as we found it
            import psycopg

            with psycopg.connect(store, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{(workdir / "schema").read_text()}" CASCADE')


def _crash_test(n: int, kills: int, seed: int, store: str | None, workdir: Path, recovery: str) -> dict[str, Any]:
    rng = random.Random(seed)
    config = setup(workdir, n, store, recovery)
    batches = max(1, (n + BATCH - 1) // BATCH)
    points = sorted(rng.randrange(-1, batches) for _ in range(kills))
    started = time.perf_counter()
    orphans = []
    done_kills = 0
    for point in points:
        if run_worker(config, n, point, rng.random()):
            done_kills += 1
            orphans.append(_in_flight(config))
    run_worker(config, n, None, 0)  # the last restart runs to the end
    rec = subprocess.run([*CLI, "--config", str(config), "reconcile"],
                         capture_output=True, text=True)
    figures = check(config, n)
    figures.update(kills=done_kills, seed=seed, store="postgresql" if store else "sqlite", recovery=recovery,
                   writes_in_flight_at_kills=sum(orphans), kills_leaving_writes_in_flight=sum(1 for o in orphans if o),
                   reconcile_exit=rec.returncode, reconcile_summary=json.loads(rec.stdout or "{}").get("summary"),
                   seconds=round(time.perf_counter() - started, 1))
    figures["ok"] = (figures["unresolved_or_unknown"] == 0 and figures["keys_not_applied"] == 0
                     and figures["missing_in_crm"] == 0 and figures["duplicates"] == 0
                     and figures["mismatches"] == 0 and figures["trail_verify_ok"])
    return figures


def _in_flight(config: Path) -> int:
    import sqlalchemy as sa

    from crmgate import load_config, tables
    from crmgate.trail import TrailStore

    store = TrailStore(load_config(config).store, create=False)
    with store.engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(tables.inflight)).scalar_one()
    store.close()
    return int(count)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--kills", type=int, default=30)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--store", default=None, help="a PostgreSQL URL (default: the project's SQLite file)")
    ap.add_argument("--recovery", choices=("start", "repeat"), default="start",
                    help="settle orphans when a worker starts (default), or when their keys are repeated")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--config", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(Path(args.config), args.n)
        return
    with tempfile.TemporaryDirectory() as tmp:
        figures = crash_test(args.n, args.kills, args.seed, args.store, Path(tmp), args.recovery)
    print(json.dumps(figures, indent=1))
    sys.exit(0 if figures["ok"] else 1)


if __name__ == "__main__":
    os.environ.setdefault("CRMGATE_LOG_LEVEL", "WARNING")
    main()
