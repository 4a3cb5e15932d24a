"""Several worker processes on one PostgreSQL store at once keep the guarantees that no longer rest
on one trail-wide lock: pool slots (pool row locks), gap-free verified trail (head lock), and
idempotency keys executed once (key claims)."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from crmgate.adapters.sandbox.adapter import SandboxAdapter
from crmgate.trail import TrailStore, verify_store
from tests.connector.pg_worker import shared

ROOT = Path(__file__).resolve().parents[2]
WORKERS, SHARED = 4, 16


@pytest.mark.postgres
def test_workers_share_pools_keys_and_one_trail(pg_url, keypair, tmp_path):
    crm = tmp_path / "crm.db"
    SandboxAdapter(crm).close()
    procs = [subprocess.Popen([sys.executable, "-m", "tests.connector.pg_worker", pg_url, str(crm),
                               str(tmp_path / "trail.key"), str(w), str(SHARED)],
                              cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for w in range(WORKERS)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:  # all at once
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
            results += json.loads(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()

    # idempotency: each shared key was decided and written once, and everyone got that outcome
    store = TrailStore(pg_url)
    decided = store.query(kinds=["proposal.decided"])
    executed = Counter(e.data["proposal"].get("idempotency_key") for e in decided)
    adapter = SandboxAdapter(crm)
    for j in range(SHARED):
        key = f"shared-{j}"
        assert executed[key] == 1, key
        records = adapter.list_records("Lead", {"LastName": shared(j)["fields"]["LastName"]}, 10)
        assert len(records) == 1, key
        answers = [r for r in results if r["key"] == key]
        assert len(answers) == WORKERS and sum(not r["replayed"] for r in answers) == 1
        assert {r["record_id"] for r in answers if r["status"] == "applied"} == {records[0].id}
        assert {r["status"] for r in answers} <= {"applied", "in_progress"}
    adapter.close()
    assert len(decided) == SHARED + WORKERS * (SHARED // 2)

    # pools: per pool, every slot of its sequence handed out exactly once
    cursors: dict[str, list[int]] = defaultdict(list)
    for e in decided:
        routing = e.data["routing"]
        assert routing["committed"] and routing["pool"] in ("emea-enterprise", "north-america")
        cursors[routing["pool"]].append(routing["pool_before"]["cursor"])
    assert sorted(cursors["emea-enterprise"]) == list(range(SHARED))
    assert sorted(cursors["north-america"]) == list(range(WORKERS * (SHARED // 2)))

    # the trail: gap-free and verified with the public key
    seqs = [e.seq for e in store.iter_entries()]
    assert seqs == list(range(1, len(seqs) + 1)) and store.head()[0] == len(seqs)
    report = verify_store(store, keypair[1])
    assert report.ok, report.problems
    store.close()
