"""The PostgreSQL append: the head-locked section as ONE server-side call, the checkpoint after it.

Why: with the head locked across client round trips (lock, then insert and commit), a holder
descheduled between two of them stalls every other worker; with more workers than cores (four
on two) that happened on most appends, and four workers were slower than two. Here the client
sends, in one pipeline (one round trip), a call of :data:`FUNCTION` and the COMMIT: the function
locks the head row, numbers the entries, splices ``seq`` and ``ts`` into the pre-serialised body
halves (:func:`crmgate.trail.canonical.split_body`), chains the hashes with the server's
``sha256`` (byte for byte :func:`crmgate.trail.canonical.entry_hash` over the UTF-8 text: the
database encoding is checked to be UTF8), inserts the rows and moves the head. The head lock is
held only while the server runs that call and commits, never across the network or the client's
scheduler.

The checkpoint (the Ed25519 signature over the new head) is signed after that commit and
inserted in a second transaction (:func:`write_checkpoint`: one more round trip, outside the head
lock), the one that waits for the disk when the append is durable (its synchronous commit also
flushes the entries' asynchronous one). Between the two commits the new entries are unsigned. So
that no reader's snapshot falls in between, the first function takes a session-level SHARED
advisory lock (one per schema) before its commit, and the checkpoint's transaction turns it into
a transaction-level one, released only once its commit is visible; a reader (verify, export)
takes the lock EXCLUSIVELY for the instant it takes its snapshot (:func:`take_barrier`).
Appenders never wait for each other on it. If a process dies in between, its session ends (the
lock with it) and its entries stay unsigned until the next append's checkpoint, which signs a
head that chains through them: ``trail verify`` meanwhile reports them as ``unsigned_tail``,
never as valid.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.pq import TransactionStatus

from crmgate.trail import schema
from crmgate.trail.records import ID_FIELDS

_E, _C, _H = schema.entries, schema.checkpoints, schema.head
#: versioned: a changed body gets a new name, created beside the old one by the next store opened
FUNCTION = "crmgate_trail_append_2"
#: the advisory lock's first key ("trai"); the second is the schema's hashtext
LOCK_CLASS = 0x7472_6169
_LOCK_ARGS = f"{LOCK_CLASS}, hashtext(current_schema())"
_IDS = ", ".join(ID_FIELDS)
_ID_PARAMS = ", ".join(f"p_{name} text[]" for name in ID_FIELDS)
_ID_UNNEST = ", ".join(f"p_{name}" for name in ID_FIELDS)

# One row through OUT parameters rather than RETURN QUERY, each entry's prev_hash read back from
# the hashes array, one PERFORM: every SPI statement costs its own executor setup (2-3% of the
# server's CPU per append less than crmgate_trail_append_1, min of interleaved blocks)
CREATE = f"""
CREATE FUNCTION {FUNCTION}(p_ts text, p_kind text[], {_ID_PARAMS}, p_before text, p_after text,
  OUT o_seq bigint, OUT o_hash text, OUT o_ts text, OUT o_hashes text, OUT o_waited float8, OUT o_held float8)
LANGUAGE plpgsql AS $fn$
DECLARE
  asked timestamptz := clock_timestamp();
  locked timestamptz;
  cur text;
  body text;
  bodies text[];
  hs text[];
  befores text[] := string_to_array(p_before, E'\\x1e');
  afters text[] := string_to_array(p_after, E'\\x1e');
  n int := cardinality(befores);
BEGIN
  SELECT t.seq, t.hash INTO o_seq, cur FROM {_H.name} t WHERE t.id = 1 FOR UPDATE;
  locked := clock_timestamp();
  o_hash := cur;
  -- timestamps never go backwards along seq (p_ts was read before the lock)
  SELECT greatest(p_ts, max(e.ts)) INTO o_ts FROM {_E.name} e WHERE e.seq = o_seq;
  FOR i IN 1..n LOOP
    body := befores[i] || (o_seq + i)::text || ',"ts":"' || o_ts || afters[i];
    cur := encode(sha256(convert_to(cur || E'\\n' || body, 'UTF8')), 'hex');
    bodies[i] := body;
    hs[i] := cur;
  END LOOP;
  INSERT INTO {_E.name} (seq, ts, kind, {_IDS}, body, prev_hash, hash)
    SELECT o_seq + u.o, o_ts, u.kind, {", ".join(f"u.{name}" for name in ID_FIELDS)}, u.body,
           coalesce(hs[u.o - 1], o_hash), u.hash
    FROM unnest(p_kind, {_ID_UNNEST}, bodies, hs) WITH ORDINALITY AS u(kind, {_IDS}, body, hash, o);
  UPDATE {_H.name} SET seq = o_seq + n, hash = cur WHERE id = 1;
  PERFORM set_config('synchronous_commit', 'off', true), pg_advisory_lock_shared({_LOCK_ARGS});
  o_hashes := array_to_string(hs, ',');
  o_waited := extract(epoch FROM locked - asked);
  o_held := extract(epoch FROM clock_timestamp() - locked);
END
$fn$
"""
#: the checkpoint's half: takes over the session lock as a transaction lock (released only once
#: the commit is visible), so the barrier never opens between the two commits
CHECKPOINT_FUNCTION = "crmgate_trail_checkpoint_1"
CREATE_CHECKPOINT = f"""
CREATE FUNCTION {CHECKPOINT_FUNCTION}(p_seq bigint, p_head_hash text, p_ts text, p_key_id text,
                                      p_signature text, p_durable boolean) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_advisory_xact_lock_shared({_LOCK_ARGS});
  PERFORM pg_advisory_unlock_shared({_LOCK_ARGS});
  IF NOT p_durable THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  INSERT INTO {_C.name} (seq, head_hash, ts, key_id, signature) VALUES (p_seq, p_head_hash, p_ts, p_key_id, p_signature);
END
$fn$
"""
EXISTS = ("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
          "WHERE p.proname = %s AND n.nspname = current_schema()")
_CHECKPOINT = f"SELECT {CHECKPOINT_FUNCTION}(%s, %s, %s, %s, %s, %s)"


def array_literal(values: Sequence[str | None]) -> str:
    """``values`` as a PostgreSQL text[] literal (psycopg's list adaptation, Python per element,
    cost ~25 us an array; the server parses this in C, before the function locks anything)."""
    return "{" + ",".join("NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for v in values) + "}"


def quote(text: str) -> str:
    """``text`` as an SQL string constant. The ``E''`` form reads the same whatever the server's
    standard_conforming_strings; in it only the backslash and the quote are special (NUL cannot
    occur: PostgreSQL text refuses it anyway)."""
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def ensure_function(raw: Any) -> None:
    """Create :data:`FUNCTION` and :data:`CHECKPOINT_FUNCTION` in the current schema when missing (inside the caller's schema
    transaction, which serialises creators). Refuses a database whose encoding is not UTF8: the
    server-side hashes would not be over the UTF-8 bytes the verifier hashes."""
    with raw.cursor() as cur:
        encoding = cur.execute("SHOW server_encoding").fetchone()[0]
        if encoding.upper() not in ("UTF8", "UTF-8"):
            raise ValueError(f"the trail needs a UTF8 database, this one is {encoding}")
        for name, create in ((FUNCTION, CREATE), (CHECKPOINT_FUNCTION, CREATE_CHECKPOINT)):
            if not cur.execute(EXISTS, (name,)).fetchone()[0]:
                cur.execute(create)


def append_rows(raw: Any, ts: str, kinds: list[str], ids: Sequence[list[Any]],
                parts: list[tuple[str, str]]) -> tuple[int, str, str, list[str], float, float]:
    """Call the function and COMMIT in one round trip (see the module docstring); returns the
    head before (seq, hash), the entries' timestamp (``ts``, or the previous entry's when that is
    later: timestamps never go backwards along seq), the new entries' hashes, and the seconds the
    call waited for the head lock and then held it (server clock, up to the commit).

    One simple-protocol query ``SELECT ...; COMMIT`` with the arguments inlined as constants (or,
    when the transaction has not begun, the SELECT alone in autocommit): psycopg's pipeline mode,
    the other way to send a statement and its COMMIT together, cost ~3x the client CPU."""
    # canonical JSON escapes every control character: RS (\x1e) cannot occur in a body half
    args = ", ".join([quote(ts), *(quote(array_literal(column)) for column in (kinds, *ids)),
                      quote("\x1e".join([p[0] for p in parts])), quote("\x1e".join([p[1] for p in parts]))])
    call = f"SELECT * FROM {FUNCTION}({args})"
    with raw.cursor() as cur:
        if raw.info.transaction_status == TransactionStatus.IDLE:
            raw.autocommit = True
            try:
                cur.execute(call)
            finally:
                raw.autocommit = False
        else:
            cur.execute(call + "; COMMIT")
        seq, prev, used_ts, hashes, waited, held = cur.fetchone()
    return int(seq), prev, used_ts, hashes.split(","), waited, held


def write_checkpoint(raw: Any, checkpoint: tuple[Any, ...], durable: bool) -> None:
    """Insert the checkpoint and commit (synchronously when ``durable``: that commit flushes every
    earlier one, the entries' included), releasing the shared lock once it is visible: one
    statement in autocommit, one round trip."""
    raw.autocommit = True
    try:
        raw.execute(_CHECKPOINT, (*checkpoint, durable))
    finally:
        raw.autocommit = False


def take_barrier(raw: Any, lock_timeout_ms: int = 10_000) -> bool:
    """Wait until no append is between its entries' and its checkpoint's commits, and hold new
    ones off there (on a reader's connection, outside any transaction): the reader's next
    statement, :data:`RELEASE_BARRIER` as the first of its snapshot transaction, takes the snapshot
    and lets them go. False (and nothing held) when the lock was not had within the timeout: the
    snapshot may then show an append's entries without their checkpoint (``unsigned_tail``)."""
    try:
        with raw.cursor() as cur:
            cur.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
            cur.execute(f"SELECT pg_advisory_lock({_LOCK_ARGS})")
        raw.commit()
        return True
    except raw.Error:
        raw.rollback()
        return False


RELEASE_BARRIER = f"SELECT pg_advisory_unlock({_LOCK_ARGS})"
