"""The sandbox's tables: new files get the key-only (WITHOUT ROWID) layout; files made with the
earlier rowid tables keep them and behave the same."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

from crmgate.adapters.base import CreateRequest, UpdateRequest
from crmgate.adapters.sandbox.adapter import SandboxAdapter

_OLD = """
CREATE TABLE sandbox_records (id TEXT PRIMARY KEY, object TEXT NOT NULL, fields TEXT NOT NULL,
    created_date TEXT NOT NULL, created_by TEXT NOT NULL, last_modified_date TEXT NOT NULL,
    last_modified_by TEXT NOT NULL, system_modstamp TEXT NOT NULL, is_deleted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE sandbox_counters (object TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE sandbox_idempotency (object TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (object, key));
"""


def _without_rowid(path) -> dict[str, bool]:
    with sqlite3.connect(path) as conn:
        return {name: "WITHOUT ROWID" in sql for name, sql in
                conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")}


def _work(path) -> list:
    """Creates (one replayed), an update, a read and a duplicate search on the sandbox at ``path``."""
    clock = lambda: datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)  # noqa: E731
    crm = SandboxAdapter(path, clock=clock)
    try:
        made = crm.create_many("Lead", [CreateRequest({"LastName": "Ng", "Company": "Initech", "Email": "ng@x.example"}, "k1"),
                                        CreateRequest({"LastName": "Li", "Company": "Acme"}, "k2")])
        again = crm.create_many("Lead", [CreateRequest({"LastName": "Ng", "Company": "Initech"}, "k1")])
        changed = crm.update_many("Lead", [UpdateRequest(made[1].id, {"Rating": "Hot"}, made[1].record.version)])
        found = crm.find_candidates("Lead", {"Email": ["NG@x.example"]}, {})
        return [made, again, changed, crm.get_many("Lead", [made[0].id, made[1].id]), [r.id for r in found]]
    finally:
        crm.close()


def test_new_sandboxes_use_key_only_tables_and_old_ones_work_the_same(tmp_path):
    """Same ids, records, replays, versions and search results on both layouts."""
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:
        conn.executescript(_OLD)
    assert _work(old) == _work(tmp_path / "new.db")
    assert _without_rowid(tmp_path / "new.db") == dict.fromkeys(
        ("sandbox_records", "sandbox_counters", "sandbox_idempotency"), True)
    assert not any(_without_rowid(old).values())
