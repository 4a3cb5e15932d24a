"""The connector's own tables, kept in the trail's database so they commit with trail entries.

``crmgate_approvals``: the queue of changes waiting for a person (mutable state; every transition
is also a trail entry). ``crmgate_idempotency``: idempotency key -> the outcome it produced.
``crmgate_inflight``: writes whose outcome is not known yet (intent recorded, no result; or a result
of ``unknown``): the work list of reconcile, and where a reconciling worker claims a change.
"""
from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

approvals = sa.Table(
    "crmgate_approvals",
    metadata,
    sa.Column("change_id", sa.String(64), primary_key=True),
    sa.Column("proposal_id", sa.String(64), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),  # pending|approved|rejected
    sa.Column("object", sa.String(80), nullable=False),
    sa.Column("op", sa.String(16), nullable=False),
    sa.Column("record_id", sa.String(64)),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("use_case", sa.String(120), index=True),
    sa.Column("tier", sa.String(16)),
    sa.Column("rule", sa.String(200)),
    sa.Column("reason", sa.Text),
    sa.Column("proposal", sa.Text, nullable=False),  # the proposal as JSON
    sa.Column("changes", sa.Text, nullable=False),  # [{field, before, after}] as JSON
    sa.Column("base_version", sa.String(64)),  # record version the change was queued against
    sa.Column("queued_at", sa.String(32), nullable=False),
    sa.Column("expires_at", sa.String(32), nullable=False),
    sa.Column("decided_by", sa.String(200)),
    sa.Column("decided_at", sa.String(32)),
    sa.Column("note", sa.Text),
)

idempotency = sa.Table(
    "crmgate_idempotency",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("proposal_id", sa.String(64), nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
)

inflight = sa.Table(
    "crmgate_inflight",
    metadata,
    sa.Column("change_id", sa.String(64), primary_key=True),
    sa.Column("proposal_id", sa.String(64), nullable=False),
    sa.Column("idempotency_key", sa.String(200)),
    sa.Column("object", sa.String(80), nullable=False),
    sa.Column("op", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # writing | unknown
    sa.Column("started_at", sa.String(32), nullable=False, index=True),
    sa.Column("claimed_by", sa.String(64)),
    sa.Column("claimed_until", sa.String(32)),
    # a row lives from an intent's commit to its result's: on SQLite no rowid b-tree beside the key,
    # and keyed rows alone in the key index (fewer WAL pages per proposal)
    sa.Index("ix_crmgate_inflight_key_set", "idempotency_key", sqlite_where=sa.text("idempotency_key IS NOT NULL"),
             postgresql_where=sa.text("idempotency_key IS NOT NULL")),
    sqlite_with_rowid=False,
)


# built once: SQLAlchemy caches the compiled form of one statement object (an expanding IN takes
# any list), where building the statement per call cost more than running it
_OUTCOMES = sa.select(idempotency.c.key, idempotency.c.outcome).where(
    idempotency.c.key.in_(sa.bindparam("keys", expanding=True)))


def stored_outcomes(conn: sa.Connection, keys: set[str]) -> dict[str, dict[str, Any]]:
    """The outcome (as stored, a dict) each already-used idempotency key among ``keys`` produced."""
    ordered = sorted(keys)
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ordered), 500):
        for key, outcome in conn.execute(_OUTCOMES, {"keys": ordered[i:i + 500]}):
            out[key] = json.loads(outcome)
    return out


def create_tables(engine: sa.Engine) -> None:
    from crmgate.trail.engine import schema_transaction

    with schema_transaction(engine) as conn:
        metadata.create_all(conn, checkfirst=True)
