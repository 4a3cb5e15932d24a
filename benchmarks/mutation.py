"""Mutation testing of crmgate's trust-critical modules with cosmic-ray (see docs/mutation.md).

Each module is mutated in place, one mutant at a time, and only the tests that pin that module run
against it (``pytest -x``), so a campaign stays affordable. Full campaign, resumable (sessions are
kept in ``.mutation/``; ``--fresh`` starts over)::

    python benchmarks/mutation.py                       # every module, prints killed/total per module
    python benchmarks/mutation.py --module trail/verify  # one module (a substring of its path)

Bounded guard (CI): a fixed, seeded sample across the modules; exits 1 when the kill rate of the
sample falls below ``--threshold``::

    python benchmarks/mutation.py --sample 40 --seed 18 --threshold 0.85

The source files are restored after every mutant (cosmic-ray does it in a ``finally``); do not edit
the tree while a campaign runs.
"""
from __future__ import annotations

import argparse
import ast
import os
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from cosmic_ray.ast import ast_nodes, get_ast_from_path
from cosmic_ray.commands import execute
from cosmic_ray.config import ConfigDict
from cosmic_ray.plugins import get_operator
from cosmic_ray.work_db import WorkDB, WorkResultStorage, use_db
from cosmic_ray.work_item import MutationSpec, TestOutcome, WorkerOutcome, WorkItem, WorkResult

ROOT = Path(__file__).resolve().parent.parent

# module -> the tests that pin it, fastest and most telling first (pytest -x stops at the first failure)
MODULES: dict[str, list[str]] = {
    "connector/trail/verify.py": ["tests/trail/test_verify_mutants.py", "tests/trail/test_tamper_exact.py",
                                  "tests/trail/test_verify.py"],
    "connector/trail/canonical.py": ["tests/trail/test_canonical.py", "tests/trail/test_canonical_mutants.py",
                                     "tests/trail/test_tamper_exact.py", "tests/trail/test_splice.py"],
    "connector/audit/verify_export.py": ["tests/audit/test_verify_export_mutants.py", "tests/audit/test_csv_rowcheck.py",
                                         "tests/audit/test_export_tampering.py", "tests/audit/test_export.py"],
    "connector/rollback/plan.py": ["tests/connector/test_rollback_plan_mutants.py",
                                   "tests/connector/test_rollback_mutants.py", "tests/connector/test_rollback.py",
                                   "tests/connector/test_rollback_many.py"],
    "connector/rollback/selection.py": ["tests/connector/test_rollback_mutants.py",
                                        "tests/connector/test_rollback_many.py", "tests/connector/test_rollback.py"],
    "connector/doors/credentials.py": ["tests/api/test_credentials_mutants.py", "tests/api/test_credentials.py"],
    "rules/decision.py": ["tests/rules/test_rules_decision.py", "tests/rules/test_decision_mutants.py",
                          "tests/rules"],
    "rules/routing.py": ["tests/routing/test_route.py", "tests/routing/test_routing_mutants.py",
                         "tests/routing/test_determinism.py", "tests/routing/test_routing_pipeline.py"],
    "connector/approvals/recheck.py": ["tests/connector/test_approvals_mutants.py", "tests/connector/test_approvals.py"],
    "connector/approvals/resolve.py": ["tests/connector/test_approvals_mutants.py", "tests/connector/test_approvals.py",
                                       "tests/connector/test_approvals_unknown.py",
                                       "tests/connector/test_approvals_busy.py"],
    "connector/writes/inflight.py": ["tests/connector/test_inflight_mutants.py",
                                     "tests/connector/test_pipeline_claimed.py", "tests/connector/test_unknown.py",
                                     "tests/connector/test_idempotency_race.py", "tests/connector/test_reconcile.py",
                                     "tests/connector/test_approvals_unknown.py"],
    "connector/writes/pipeline.py": ["tests/connector/test_pipeline_mutants.py", "tests/connector/test_pipeline.py",
                                     "tests/connector/test_chunks.py",
                                     "tests/connector/test_unknown.py", "tests/connector/test_idempotency_race.py",
                                     "tests/routing/test_replay_does_no_work.py", "tests/routing/test_routing_pipeline.py",
                                     "tests/duplicates/test_guard_cli.py", "tests/connector/test_crash.py"],
    "connector/writes/chunks.py": ["tests/connector/test_chunks.py", "tests/salesforce/test_sf_concurrency.py",
                                   "tests/salesforce/test_sf_write_path.py", "tests/connector/test_pipeline.py"],
    "connector/writes/send.py": ["tests/connector/test_chunks.py", "tests/connector/test_pipeline.py",
                                 "tests/connector/test_pipeline_mutants.py", "tests/connector/test_unknown.py",
                                 "tests/salesforce/test_sf_concurrency.py"],
    "connector/writes/outcome.py": ["tests/connector/test_inflight_mutants.py", "tests/connector/test_pipeline.py",
                                    "tests/connector/test_unknown.py"],
    "adapters/errors.py": ["tests/adapters/test_errors_mutants.py", "tests/salesforce/test_sf_errors.py",
                           "tests/hubspot/test_hubspot_errors.py"],
    "adapters/salesforce/errors.py": ["tests/salesforce/test_sf_errors_mutants.py", "tests/salesforce/test_sf_errors.py",
                                      "tests/salesforce/test_sf_batch_conflicts.py"],
    "adapters/salesforce/results.py": ["tests/salesforce/test_sf_errors_mutants.py",
                                       "tests/salesforce/test_sf_batch_conflicts.py",
                                       "tests/salesforce/test_sf_write_path.py"],
    "adapters/hubspot/errors.py": ["tests/hubspot/test_hubspot_errors_mutants.py", "tests/hubspot/test_hubspot_errors.py",
                                   "tests/hubspot/test_hubspot_batch_conflicts.py"],
    "connector/trail/store.py": ["tests/trail/test_store_mutants.py", "tests/trail/test_store.py",
                                 "tests/trail/test_seal.py", "tests/trail/test_sync.py",
                                 "tests/trail/test_schema_migration.py", "tests/trail/test_concurrency.py"],
    "connector/trail/sealing.py": ["tests/trail/test_seal.py", "tests/trail/test_schema_migration.py"],
    "connector/writes/before_images.py": ["tests/salesforce/test_sf_before_image_fields.py"],
    "adapters/salesforce/reads.py": ["tests/salesforce/test_sf_before_image_fields.py", "tests/salesforce/test_sf_errors.py",
                                     "tests/salesforce/test_sf_write_path.py"],
    "connector/trail/pgappend.py": ["tests/trail/test_pgappend.py", "tests/trail/test_store_mutants.py",
                                    "tests/trail/test_store.py"],
    "connector/audit/csvcheck.py": ["tests/audit/test_csv_rowcheck.py", "tests/audit/test_export_tampering.py",
                                    "tests/audit/test_verify_export_mutants.py"],
    "connector/audit/entrylines.py": ["tests/audit/test_verify_export_mutants.py", "tests/audit/test_csv_rowcheck.py",
                                      "tests/audit/test_export_tampering.py", "tests/audit/test_export.py"],
    "connector/audit/formats.py": ["tests/audit/test_csv_format.py", "tests/audit/test_export_tampering.py",
                                   "tests/audit/test_export.py", "tests/audit/test_export_changes.py",
                                   "tests/audit/test_verify_export_mutants.py"],
    "connector/audit/csvworker.py": ["tests/audit/test_csv_format.py", "tests/audit/test_export.py"],
}

# Modules with PostgreSQL-only branches (the COPY / one-statement write path, the read snapshot,
# the dialect's INSERT ... ON CONFLICT): after the SQLite pass, a mutant that survived it faces
# these tests' PostgreSQL cases too (``-m postgres``, the server required), so a killed mutant
# still costs one SQLite run.
POSTGRES: dict[str, list[str]] = {
    "connector/trail/store.py": ["tests/trail/test_store_mutants.py", "tests/trail/test_seal.py",
                                 "tests/trail/test_sync.py"],
    "connector/trail/sealing.py": ["tests/trail/test_seal.py"],
    "connector/writes/inflight.py": ["tests/connector/test_inflight_mutants.py",
                                     "tests/connector/test_pipeline_claimed.py"],
    "connector/trail/pgappend.py": ["tests/trail/test_pgappend.py", "tests/trail/test_store_mutants.py"],
}

# One telling replacement per operator (as mutmut does) rather than cosmic-ray's every-to-every
# set, which multiplies the cost by ten without finding different gaps.
OPERATORS: tuple[str, ...] = (
    "core/ReplaceBinaryOperator_Add_Sub", "core/ReplaceBinaryOperator_Sub_Add",
    "core/ReplaceBinaryOperator_Mul_Div", "core/ReplaceBinaryOperator_Div_Mul",
    "core/ReplaceBinaryOperator_FloorDiv_Mul", "core/ReplaceBinaryOperator_Mod_Mul",
    "core/ReplaceBinaryOperator_BitOr_BitAnd", "core/ReplaceBinaryOperator_BitAnd_BitOr",
    "core/ReplaceComparisonOperator_Eq_NotEq", "core/ReplaceComparisonOperator_NotEq_Eq",
    "core/ReplaceComparisonOperator_Lt_LtE", "core/ReplaceComparisonOperator_LtE_Lt",
    "core/ReplaceComparisonOperator_Gt_GtE", "core/ReplaceComparisonOperator_GtE_Gt",
    "core/ReplaceComparisonOperator_Is_IsNot", "core/ReplaceComparisonOperator_IsNot_Is",
    "core/ReplaceUnaryOperator_Delete_Not", "core/ReplaceUnaryOperator_USub_UAdd",
    "core/AddNot", "core/ReplaceTrueWithFalse", "core/ReplaceFalseWithTrue",
    "core/ReplaceAndWithOr", "core/ReplaceOrWithAnd",
    "core/ReplaceBreakWithContinue", "core/ReplaceContinueWithBreak",
    "core/NumberReplacer", "core/ZeroIterationForLoop", "core/ExceptionReplacer", "core/RemoveDecorator",
)


@dataclass
class Score:
    module: str
    killed: int = 0
    survived: int = 0
    incompetent: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return self.killed + self.survived + self.incompetent

    @property
    def rate(self) -> float:
        # a mutant that cannot even run (incompetent) is caught by import, so it counts as killed
        return (self.killed + self.incompetent) / self.total if self.total else 1.0


def test_command(module: str) -> str:
    """Only the tests that pin ``module``, stopping at the first failure, niced (the CPU is shared)."""
    def pytest(marks: str, tests: list[str]) -> list[str]:
        return [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:schemathesis",
                "-m", marks, "--rootdir", str(ROOT), *[str(ROOT / p) for p in tests if (ROOT / p).exists()]]

    # SQLite only: the logic under test does not depend on the database (and it halves the store tests)
    sqlite = pytest("not postgres", MODULES[module])
    if module not in POSTGRES:
        return shlex.join(["nice", "-n", "19", *sqlite])
    # then PostgreSQL for what only it runs; a missing server fails the baseline instead of letting
    # every PostgreSQL-only mutant survive
    both = f"{shlex.join(sqlite)} && CRMGATE_REQUIRE_PG=1 {shlex.join(pytest('postgres', POSTGRES[module]))}"
    return shlex.join(["nice", "-n", "19", "sh", "-c", both])


def mutations(module: str) -> Iterable[MutationSpec]:
    """Every mutation of the chosen operators in ``module``, in a stable order."""
    path = ROOT / module
    tree = get_ast_from_path(path)
    hints = _annotations(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    for name in OPERATORS:
        operator = get_operator(name)()
        positions = [(s, e) for node in ast_nodes(tree) for s, e in operator.mutation_positions(node)]
        for occurrence, (start, end) in enumerate(positions):
            if any(a <= start < b for a, b in hints):
                continue  # type hints are never evaluated (postponed annotations): mutating them is a no-op
            if name == "core/NumberReplacer" and occurrence % 2:
                continue  # each number yields +1 then -1; one mutant per number is enough
            if _equivalent_by_construction(name, lines[start[0] - 1], start[1]):
                continue
            if name == "core/ExceptionReplacer" and "." in lines[start[0] - 1][start[1]:end[1]]:
                continue  # cosmic-ray 8 cannot rename a dotted name (sqlite3.Error); its failed build counted as killed
            yield MutationSpec(module_path=str(path), operator_name=name, occurrence=occurrence,
                               start_pos=start, end_pos=end)


def _equivalent_by_construction(operator: str, line: str, col: int) -> bool:
    """Mutants that cannot change behaviour, whole classes of them (docs/mutation.md says why)."""
    before = line[:col].rstrip()
    if operator == "core/ReplaceBinaryOperator_Mul_Div" and line[col:col + 2] == "*,":
        return True  # the bare '*' of keyword-only parameters; callers pass those by keyword
    if operator == "core/ReplaceTrueWithFalse" and before.endswith("slots="):
        return True  # slots on a frozen dataclass: memory layout only, assignment is refused either way
    if operator == "core/NumberReplacer" and before.endswith("String("):
        return True  # a column's declared width: DDL the code's values never come near
    return False


def _annotations(path: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The (start, end) positions of every type hint in the file."""
    spans = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        hint = getattr(node, "annotation", None) if isinstance(node, (ast.arg, ast.AnnAssign)) else (
            node.returns if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None)
        if hint is not None:
            spans.append(((hint.lineno, hint.col_offset), (hint.end_lineno, hint.end_col_offset)))
    return spans


def job_id(spec: MutationSpec) -> str:
    return f"{Path(spec.module_path).relative_to(ROOT)}:{spec.operator_name}:{spec.occurrence}"


def baseline(module: str) -> float:
    """Run the module's tests unmutated; they must pass, or every mutant would look killed."""
    start = time.monotonic()
    done = subprocess.run(shlex.split(test_command(module)), cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"baseline failed for {module}; fix the tests first:\n{done.stdout[-3000:]}")
    return time.monotonic() - start


def run_module(module: str, db_path: Path, keep: set[str] | None, fresh: bool, rerun: bool = False) -> Score:
    """Mutate ``module`` (only the ids in ``keep`` when sampling) and return its score."""
    started = time.monotonic()
    with use_db(str(db_path), WorkDB.Mode.create) as db:
        if fresh or db.num_work_items == 0:
            db.clear()
            specs = [s for s in mutations(module) if keep is None or job_id(s) in keep]
            db.add_work_items(WorkItem.single(job_id(s), s) for s in specs)
        _own_paths(db, ROOT / module)
        if rerun:  # survivors run again, e.g. after new tests were written to kill them
            _forget_survivors(db)
        if any(True for _ in db.pending_work_items):
            took = baseline(module)
            config = ConfigDict({"test-command": test_command(module), "timeout": max(60.0, 4 * took),
                                 "distributor": {"name": "local"}})
            execute(db, config)
        score = Score(module, seconds=time.monotonic() - started)
        current = {job_id(s) for s in mutations(module)}  # a session may predate a filter change
        for item, result in db.completed_work_items:
            if item.job_id not in current:
                continue
            if result.worker_outcome != WorkerOutcome.NORMAL:
                score.incompetent += 1
            elif result.test_outcome == TestOutcome.SURVIVED:
                score.survived += 1
                spec = item.mutations[0]
                print(f"  SURVIVED {job_id(spec)} line {spec.start_pos[0]}\n{_indent(result.diff)}", flush=True)
            elif result.test_outcome == TestOutcome.KILLED:
                score.killed += 1
            else:
                score.incompetent += 1
    return score


def _own_paths(db: WorkDB, path: Path) -> None:
    """A session stores absolute paths: one copied from another checkout would mutate THAT
    checkout's file. Point it at this checkout's file, or refuse when the file differs there."""
    with db._session_maker.begin() as session:  # cosmic-ray has no public API for the specs
        stored = {p for (p,) in session.execute(sa.text("SELECT DISTINCT module_path FROM mutation_specs"))}
        foreign = stored - {str(path)}
        if not foreign:
            return
        for other in foreign:
            if not Path(other).is_file() or Path(other).read_bytes() != path.read_bytes():
                sys.exit(f"{db.name}: this session was made in another checkout ({other}) on a different "
                         f"source; run it with --fresh")
        session.execute(sa.text("UPDATE mutation_specs SET module_path = :p"), {"p": str(path)})
    print(f"  session paths moved to this checkout ({', '.join(sorted(foreign))} had the same source)", flush=True)


def _forget_survivors(db: WorkDB) -> None:
    survivors = [item.job_id for item, result in db.completed_work_items
                 if result.test_outcome == TestOutcome.SURVIVED]
    with db._session_maker.begin() as session:  # cosmic-ray has no public "reset" for one result
        for job in survivors:
            session.query(WorkResultStorage).filter_by(job_id=job).delete()


def _indent(diff: str | None) -> str:
    lines = [ln for ln in (diff or "").splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
    return "\n".join("      " + ln for ln in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", default=[], help="substring of a module path (repeatable)")
    parser.add_argument("--sample", type=int, help="run only N mutants, drawn with --seed across the modules")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--threshold", type=float, default=0.85, help="minimum kill rate (sample mode)")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".mutation", help="session files (full campaign)")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results and start over")
    parser.add_argument("--rerun-survivors", action="store_true", help="run the surviving mutants again")
    parser.add_argument("--list", action="store_true", help="count the mutants per module and stop")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    # a killed campaign must still restore the mutated file: turn SIGTERM into SystemExit so that
    # cosmic-ray's ``finally`` runs
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    # in the order asked for (--module), else in the table's order
    modules = list(MODULES) if not args.module else list(dict.fromkeys(
        m for s in args.module for m in MODULES if s in m))
    if args.list:
        for m in modules:
            print(f"{m:40} {sum(1 for _ in mutations(m)):5} mutants   {test_command(m)}")
        return 0
    keep: set[str] | None = None
    if args.sample is not None:
        everything = sorted(job_id(s) for m in modules for s in mutations(m))
        keep = set(random.Random(args.seed).sample(everything, min(args.sample, len(everything))))
        modules = [m for m in modules if any(k.startswith(m + ":") for k in keep)]
        workdir = Path(tempfile.mkdtemp(prefix="crmgate-mutation-"))
    else:
        workdir = args.workdir
        workdir.mkdir(parents=True, exist_ok=True)

    started, scores = time.monotonic(), []
    for m in modules:
        print(f"== {m}", flush=True)
        db = workdir / (m.replace("/", "_").removesuffix(".py") + ".sqlite")
        scores.append(run_module(m, db, keep, fresh=args.fresh or keep is not None, rerun=args.rerun_survivors))
    print(f"\n{'module':40} {'killed':>7} {'total':>6} {'score':>7} {'time':>7}")
    for s in scores:
        print(f"{s.module:40} {s.killed + s.incompetent:7} {s.total:6} {s.rate:7.1%} {s.seconds:6.0f}s")
    overall = Score("all", sum(s.killed for s in scores), sum(s.survived for s in scores),
                    sum(s.incompetent for s in scores), time.monotonic() - started)
    print(f"{'all':40} {overall.killed + overall.incompetent:7} {overall.total:6} {overall.rate:7.1%} "
          f"{overall.seconds:6.0f}s")
    if keep is not None and overall.rate < args.threshold:
        print(f"mutation guard: kill rate {overall.rate:.1%} < threshold {args.threshold:.0%}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
