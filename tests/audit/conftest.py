"""Fixtures for auditor exports, feedback and the report: a signed SQLite trail and a sandbox gate."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crmgate.audit.export import ExportFilters, export_trail
from crmgate.audit.verify_export import ExportReport, verify_export
from crmgate.gate import Gate
from crmgate.trail import (
    NewEntry,
    TrailSigner,
    TrailStore,
    TrailVerifierKey,
    generate_keypair,
    load_public_key,
    load_signer,
)
from tests.connector.conftest import rulebook, sandbox  # noqa: F401  (shared fixtures)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[TrailSigner, TrailVerifierKey]:
    generate_keypair(tmp_path / "trail.key", tmp_path / "trail.pub")
    return load_signer(tmp_path / "trail.key", env={}), load_public_key(tmp_path / "trail.pub")


@pytest.fixture
def store(tmp_path: Path, keys, clock) -> Iterator[TrailStore]:
    s = TrailStore(f"sqlite:///{tmp_path / 'trail.db'}", signer=keys[0], clock=clock)
    yield s
    s.close()


def mixed_entry(n: int) -> NewEntry:
    """Entry ``n``: actors alternate ai:a / ai:b; data holds field changes, one a formula-like value."""
    actor = "ai:a" if n % 2 == 0 else "ai:b"
    return NewEntry(kind="write.intent", proposal_id=f"prp_{n}", batch_id=f"bat_{n // 3}", change_id=f"chg_{n}",
                    actor=actor, use_case="uc_a" if actor == "ai:a" else "uc_b", object="Lead",
                    record_id=f"00Q{n:05d}", op="update",
                    data={"changes": [{"field": "Company", "before": "Acme", "after": f"=HYPERLINK(\"x{n}\")"},
                                      {"field": "NumberOfEmployees", "before": None, "after": -n}],
                          "n": n})


def fill_mixed(store: TrailStore, clock, batches: int = 5, size: int = 3) -> None:
    """Append ``batches`` batches of ``size`` entries (checkpoints at size, 2*size...), a minute apart."""
    n = 0
    for _ in range(batches):
        store.append([mixed_entry(n + i) for i in range(size)])
        n += size
        clock.advance(60)


@pytest.fixture
def trail(store: TrailStore, clock) -> TrailStore:
    """15 entries in 5 signed batches: odd seqs by ai:a, even seqs by ai:b."""
    fill_mixed(store, clock)
    return store


@pytest.fixture
def export(trail: TrailStore, keys, tmp_path: Path, clock) -> Callable[..., Path]:
    """Export the trail: ``export(fmt, name=..., **filters)`` returns the export's path."""
    def run(fmt: str = "jsonl", name: str | None = None, **filters: Any) -> Path:
        out = tmp_path / (name or f"export.{fmt}")
        export_trail(trail, out, fmt=fmt, filters=ExportFilters(**filters), signer=keys[0], clock=clock)
        return out
    return run


@pytest.fixture
def gate(rulebook, sandbox, store, clock, ids) -> Gate:  # noqa: F811 - pytest fixtures
    return Gate(rulebook=rulebook, adapter=sandbox, store=store, clock=clock, ids=ids)



def need_fork() -> None:
    """Skip unless this process has one thread: crmgate forks a worker only then, and threads left
    running by earlier tests of a whole-suite run (servers) would make a worker test quietly test
    the in-process path. ``pytest tests/audit`` (and the mutation campaigns) run them all."""
    if threading.active_count() > 1:
        names = sorted({t.name for t in threading.enumerate()} - {threading.current_thread().name})
        pytest.skip(f"threads left by earlier tests ({', '.join(names)[:120]}): no worker can be forked")


@pytest.fixture(params=["in process", "worker"])
def verify(request) -> Callable[..., ExportReport]:
    """``verify_export`` with a CSV's rows compared in the verifier's process, then in a worker
    process (what a large export gets): every tampering must be found both ways."""
    parallel = request.param == "worker"
    if parallel:  # else the worker could not fork and the verifier would quietly compare in process
        need_fork()

    def run(path: Path, key: TrailVerifierKey, **kw: Any) -> ExportReport:
        return verify_export(path, key, parallel=parallel, **kw)
    return run
