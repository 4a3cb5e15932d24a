"""Several writers, each with its own TrailStore on one database, still produce one gap-free valid chain."""
from __future__ import annotations

import threading

from crmgate.trail import TrailStore, verify_store

from .trailkit import entry

WRITERS = 4
APPENDS = 12
BATCH = 3


def test_concurrent_appends_are_gap_free_and_verify(store_url, signer, clock):
    """Concurrent opens and appends from several threads interleave as whole batches with seqs 1..N and a valid chain."""
    start = threading.Barrier(WRITERS)
    results: dict[int, list[list[int]]] = {}
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            start.wait()  # race the table creation too
            with TrailStore(store_url, signer=signer, clock=clock) as store:
                results[w] = [[e.seq for e in store.append([entry(w * 1000 + i * 10 + j) for j in range(BATCH)])]
                              for i in range(APPENDS)]
        except BaseException as exc:  # reported below, with the thread's traceback
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    total = WRITERS * APPENDS * BATCH
    batches = [seqs for per_writer in results.values() for seqs in per_writer]
    assert sorted(s for seqs in batches for s in seqs) == list(range(1, total + 1))
    assert all(seqs == list(range(seqs[0], seqs[0] + BATCH)) for seqs in batches)
    with TrailStore(store_url) as store:
        assert sorted(cp.seq for cp in store.checkpoints()) == sorted(seqs[-1] for seqs in batches)
        report = verify_store(store, signer.public_key())
    assert report.ok, report.problems
    assert (report.entries, report.checkpoints, report.head_seq) == (total, WRITERS * APPENDS, total)
