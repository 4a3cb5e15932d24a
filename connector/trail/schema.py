"""The trail's tables (SQLAlchemy Core). Timestamps are ISO-8601 text so they round-trip exactly.

* ``trail_entries``: one row per entry; ``body`` is the canonical JSON that ``hash`` covers, the
  other columns repeat body fields so they can be indexed (the verifier checks they agree).
* ``trail_checkpoints``: one signed checkpoint per committed batch, keyed by the batch's last seq.
* ``trail_head``: exactly one row (``id = 1``) with the current head; writers lock it.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

entries = Table(
    "trail_entries", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", String(40), nullable=False),
    Column("kind", String, nullable=False),
    Column("proposal_id", String),
    Column("batch_id", String),
    Column("change_id", String),
    Column("actor", String),
    Column("use_case", String),
    Column("object", String),
    Column("record_id", String),
    Column("op", String),
    Column("body", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_trail_entries_proposal_id", "proposal_id"),
    Index("ix_trail_entries_change_id", "change_id"),
    Index("ix_trail_entries_actor", "actor"),
    Index("ix_trail_entries_record_id", "record_id"),
    Index("ix_trail_entries_ts", "ts"),
    Index("ix_trail_entries_kind", "kind"),
)

checkpoints = Table(
    "trail_checkpoints", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("head_hash", String(64), nullable=False),
    Column("ts", String(40), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", Text, nullable=False),
)

head = Table(
    "trail_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

#: Columns of ``trail_entries`` that repeat a body field.
ENTRY_COLUMNS: tuple[str, ...] = (
    "seq", "ts", "kind", "proposal_id", "batch_id", "change_id", "actor", "use_case", "object",
    "record_id", "op",
)
