"""The trail's tables (SQLAlchemy Core). Timestamps are ISO-8601 text so they round-trip exactly.

* ``trail_entries``: one row per entry; ``body`` is the canonical JSON that ``hash`` covers, the
  other columns repeat body fields so they can be indexed (the verifier checks they agree).
* ``trail_checkpoints``: one signed checkpoint per committed batch, keyed by the batch's last seq.
* ``trail_head``: exactly one row (``id = 1``) with the current head; writers lock it.

Indexes serve the lookups by proposal, change, actor, record and time; each costs every append
a b-tree insert (and on SQLite a WAL page per commit). ``kind`` has no index of its own (a
handful of values: every query filtering on it also filters on an indexed column or scans), and
``record_id``'s covers only the entries that have one (a create's decision and intent do not).
:data:`DROPPED` lists the indexes older trails had and the store drops when it opens them.
On SQLite, ``seq`` is ``INTEGER PRIMARY KEY`` in trails created now (the table's own key, no
second b-tree); older trails keep ``BIGINT`` (a separate unique index), which reads and verifies
the same.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text, text

metadata = MetaData()
#: SQLite: INTEGER PRIMARY KEY makes seq the rowid (BIGINT would get a second, unique b-tree)
_SEQ = BigInteger().with_variant(Integer(), "sqlite")

entries = Table(
    "trail_entries", metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=False),
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
    Index("ix_trail_entries_record_id_set", "record_id", sqlite_where=text("record_id IS NOT NULL"),
          postgresql_where=text("record_id IS NOT NULL")),
    Index("ix_trail_entries_ts", "ts"),
)

#: indexes of older trails, dropped when a store opens them (see the module docstring)
DROPPED: tuple[str, ...] = ("ix_trail_entries_kind", "ix_trail_entries_record_id")

checkpoints = Table(
    "trail_checkpoints", metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=False),
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
