"""The crash test, small: a worker SIGKILLed at seeded points, restarted with the same keys, then
`crmgate reconcile`: nothing unresolved, every proposal applied once, trail and CRM agree."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "crash_test", Path(__file__).resolve().parents[2] / "benchmarks" / "crash_test.py")
crash = importlib.util.module_from_spec(_SPEC)  # type: ignore[arg-type]
_SPEC.loader.exec_module(crash)  # type: ignore[union-attr]


def _assert_clean(figures: dict) -> None:
    assert figures["kills"] == 5
    assert figures["unresolved_or_unknown"] == 0 and figures["in_flight_rows"] == 0
    assert figures["keys_not_applied"] == 0 and figures["missing_in_crm"] == 0
    assert figures["duplicates"] == 0 and figures["mismatches"] == 0
    assert figures["trail_verify_ok"] and figures["ok"]


def test_crash_test_sqlite(tmp_path):
    """300 proposals, 5 kills, SQLite trail."""
    _assert_clean(crash.crash_test(300, 5, 7, None, tmp_path))


@pytest.mark.postgres
def test_crash_test_postgresql(tmp_path, pg_url):
    """300 proposals, 5 kills, a PostgreSQL trail (a schema of its own)."""
    base = pg_url.split("?")[0]
    _assert_clean(crash.crash_test(300, 5, 11, base, tmp_path))


def test_crash_test_sqlite_settled_by_repeated_keys(tmp_path):
    """No reconcile at start: orphans are settled when the restarted worker repeats their keys."""
    figures = crash.crash_test(300, 5, 5, None, tmp_path, "repeat")
    _assert_clean(figures)
    assert figures["recovery"] == "repeat"
