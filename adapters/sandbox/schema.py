"""The sandbox's shape: its objects, required fields, tables and journal, Salesforce-style ids and version stamps."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from functools import lru_cache

KEY_PREFIXES: dict[str, str] = {"Account": "001", "Contact": "003", "Lead": "00Q", "Opportunity": "006"}
REQUIRED_ON_CREATE: dict[str, tuple[str, ...]] = {
    "Account": ("Name",),
    "Contact": ("LastName",),
    "Lead": ("LastName", "Company"),
    "Opportunity": ("Name", "StageName", "CloseDate"),
}
#: maintained by the CRM; a write naming one fails like Salesforce's INVALID_FIELD_FOR_INSERT_UPDATE
SYSTEM_FIELDS = frozenset(
    {"Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"}
)
WRITE_METHODS = ("create_many", "update_many", "delete_many")

# WITHOUT ROWID: each table is its primary key's b-tree alone (no second b-tree for the key), so
# a one-record create writes 5.4 WAL pages instead of 6.75 (~15% of its CPU). A sandbox file made
# with the earlier rowid tables keeps them (IF NOT EXISTS) and works the same.
_SCHEMA = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS sandbox_records (
    id TEXT PRIMARY KEY,
    object TEXT NOT NULL,
    fields TEXT NOT NULL,
    created_date TEXT NOT NULL,
    created_by TEXT NOT NULL,
    last_modified_date TEXT NOT NULL,
    last_modified_by TEXT NOT NULL,
    system_modstamp TEXT NOT NULL,
    is_deleted INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sandbox_counters (object TEXT PRIMARY KEY, next INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sandbox_idempotency (
    object TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (object, key)
) WITHOUT ROWID;
COMMIT;
"""
_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def salesforce_id(prefix: str, n: int) -> str:
    """The 18-char id for counter ``n`` under a 3-char key prefix, with Salesforce's case checksum."""
    return f"{prefix}{n:012d}{_checksum(prefix)}"


@lru_cache(maxsize=64)
def _checksum(prefix: str) -> str:
    # the checksum marks the upper-case letters of each 5-character slice; the counter adds only
    # digits (and a "-"), so it depends on the prefix alone: worked out once per prefix
    base = f"{prefix}{0:012d}"
    suffix = ""
    for start in range(0, 15, 5):
        bits = sum(1 << i for i, ch in enumerate(base[start : start + 5]) if "A" <= ch <= "Z")
        suffix += _CHECKSUM_ALPHABET[bits]
    return suffix


def format_stamp(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds; naive datetimes are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    if moment.tzinfo is timezone.utc and moment.year >= 1000:  # the same text, without strftime's cost
        return f"{moment.isoformat(timespec='milliseconds')[:23]}Z"
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def next_stamp(now: datetime, previous: str | None) -> str:
    stamp = format_stamp(now)
    # fixed-width stamps compare as strings; bump so the version changes even on a frozen clock
    if previous is not None and stamp <= previous:
        before = datetime.strptime(previous, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        stamp = format_stamp(before + timedelta(milliseconds=1))
    return stamp


def fast_commits(conn: sqlite3.Connection) -> None:
    """WAL with ``synchronous = NORMAL``: a commit is one append to the log, no fsync (in the
    default rollback journal each call's commit cost ~1 ms of CPU in fsyncs). A commit survives
    the process dying; a power cut may lose the last calls, which a sandbox may. If another
    connection holds the file so the mode cannot switch now, the sandbox keeps its journal."""
    try:
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal":
            conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.OperationalError:
        pass
