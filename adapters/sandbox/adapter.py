"""The embedded sandbox CRM: a small Salesforce look-alike in one SQLite file, for demos and tests.

Behaviour mirrors what crmgate relies on in a real CRM:

* Objects ``Account``, ``Contact``, ``Lead``, ``Opportunity``; any other object name raises
  :class:`NotFoundError` (``code="unknown_object"``, status 404). Fields are schemaless JSON scalars
  (str, int, finite float, bool); ``None`` clears a field (the key disappears from ``fields``).
* 18-character Salesforce-style ids (``00Q000000000001EAA``) from a persisted per-object counter, so
  a fresh sandbox always hands out the same ids in the same order.
* ``Record.version`` is ``SystemModstamp`` (``2026-11-22T09:00:00.000Z``, from the injected clock),
  strictly increasing per record even when the clock stands still (bumped 1 ms past the last one).
* Required-on-create fields (:data:`REQUIRED_ON_CREATE`) fail that record with
  ``REQUIRED_FIELD_MISSING`` (400); so does an update that blanks one.
* Every chunk of at most ``max_batch`` requests is one simulated API call (logged in ``calls``) and
  one ``BEGIN IMMEDIATE`` transaction, so a version check and its write are atomic.
* Delete is a soft delete with no undelete; updating/deleting it fails with ``ENTITY_IS_DELETED``.
* Idempotency keys are stored per object: a replayed create returns the first record. A whole-call
  failure on a later chunk leaves earlier chunks written; a retry with the same keys is safe.
* Faults are injected on the sandbox itself (:meth:`SandboxAdapter.inject_fault`), never by patching.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, TypeVar

from crmgate.adapters.base import Adapter, CreateRequest, DeleteRequest, Record, UpdateRequest, WriteResult
from crmgate.adapters.errors import CRMError, CRMValidationError, NotFoundError
from crmgate.adapters.sandbox.faults import Fault, translated
from crmgate.adapters.sandbox.chunks import create_chunk, update_chunk
from crmgate.adapters.sandbox.rows import (bad_values, conflict_error, dump_fields, fetch_row, gone_error, required_error,
                                           to_record, write_fields, written)
from crmgate.adapters.sandbox.schema import (  # noqa: F401 (re-exported: the sandbox's public constants)
    _SCHEMA,
    KEY_PREFIXES,
    REQUIRED_ON_CREATE,
    SYSTEM_FIELDS,
    WRITE_METHODS,
    fast_commits,
    format_stamp,
    next_stamp,
    salesforce_id,
)
from crmgate.adapters.sandbox.search import candidate_rows, register_functions

_R = TypeVar("_R")


class SandboxAdapter(Adapter):
    """The sandbox CRM in the SQLite file at ``path`` (created with its schema if missing).

    ``clock`` gives the time for stamps (default: the wall clock, UTC); ``user`` is the
    ``LastModifiedById`` written by adapter calls; ``timeout`` is the seconds to wait for another
    process's lock before raising :class:`UnavailableError`. One instance may be shared by threads.
    """

    kind = "sandbox"
    max_batch: int = 200
    #: its calls are Python work in the caller's process: a call kept in flight would only add switches
    write_lanes: int = 0
    max_candidates: int = 50_000

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], datetime] | None = None,
        user: str = "crmgate",
        timeout: float = 5.0,
    ) -> None:
        self.path = os.fspath(path)
        self.user = user
        self.calls: list[tuple[str, str, int]] = []
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._indexed: set[tuple[str, str]] = set()  # search indexes made: (object, field)
        with translated():
            # autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE
            conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
            try:
                conn.row_factory = sqlite3.Row
                register_functions(conn)
                fast_commits(conn)
                conn.executescript(_SCHEMA)
            except BaseException:
                conn.close()
                raise
        self._conn: sqlite3.Connection | None = conn

    # -- the Adapter interface -------------------------------------------------------------------

    def objects(self) -> Sequence[str]:
        return tuple(KEY_PREFIXES)

    def get_many(self, object: str, ids: Sequence[str]) -> dict[str, Record]:
        """Live records among ``ids``; ids of other objects, deleted or unknown ids are absent."""
        self._check_object(object)
        wanted = list(dict.fromkeys(i for i in ids if isinstance(i, str)))
        found: dict[str, Record] = {}
        for chunk in self._chunks("get_many", object, wanted):
            marks = ",".join("?" * len(chunk))
            with self._lock, translated():
                rows = self._connection().execute(
                    f"SELECT * FROM sandbox_records WHERE object = ? AND is_deleted = 0 AND id IN ({marks})",
                    [object, *chunk],
                ).fetchall()
            found.update((row["id"], to_record(row)) for row in rows)
        return {i: found[i] for i in wanted if i in found}

    def list_records(self, object: str, where: Mapping[str, Any], limit: int) -> list[Record]:
        """Live records of ``object`` whose fields equal every ``where`` value (a value given as text
        also matches its text form), in id order, at most ``limit``. Sandbox only: the CRM adapters
        read by id."""
        self._check_object(object)
        out: list[Record] = []
        with self._lock, translated():
            rows = self._connection().execute(
                "SELECT * FROM sandbox_records WHERE object = ? AND is_deleted = 0 ORDER BY id", [object])
            for row in rows:
                rec = to_record(row)
                if all(_same(rec.fields.get(k), v) for k, v in where.items()):
                    out.append(rec)
                    if len(out) >= limit:
                        break
        return out

    idempotent_creates = True

    def find_created(self, object: str, keys: Sequence[str]) -> dict[str, Record]:
        """Live records created under ``keys`` (one ``get_many``-like call per chunk)."""
        self._check_object(object)
        found: dict[str, Record] = {}
        for chunk in self._chunks("get_many", object, list(dict.fromkeys(keys))):
            marks = ",".join("?" * len(chunk))
            with self._lock, translated():
                rows = self._connection().execute(
                    "SELECT k.key AS key, r.* FROM sandbox_idempotency k JOIN sandbox_records r ON r.id = k.id"
                    f" WHERE k.object = ? AND r.is_deleted = 0 AND k.key IN ({marks})", [object, *chunk]).fetchall()
            found.update((row["key"], to_record(row)) for row in rows)
        return found

    def find_candidates(self, object: str, keys: Mapping[str, Sequence[str]],
                        prefixes: Mapping[str, Sequence[str]]) -> list[Record]:
        """One simulated call: a SELECT over indexed, case-folded field expressions (see :mod:`.search`)."""
        self._check_object(object)
        found: list[Record] = []
        for _ in self._chunks("find_candidates", object, [None]):
            with self._lock, translated():
                rows = candidate_rows(self._connection(), object, keys, prefixes, self.max_candidates,
                                      self._indexed)
            found = [to_record(row) for row in rows]
        return found

    def create_many(self, object: str, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        return self._write("create_many", object, requests, self._create_one, create_chunk)

    def update_many(self, object: str, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        return self._write("update_many", object, requests, self._update_one, update_chunk)

    def delete_many(self, object: str, requests: Sequence[DeleteRequest]) -> list[WriteResult]:
        return self._write("delete_many", object, requests, self._delete_one)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- outside crmgate ---------------------------------------------------------------------------

    def edit(self, object: str, id: str, fields: Mapping[str, Any], *, actor: str = "person") -> Record:
        """A person editing ``id`` in the CRM's own UI: merges ``fields``, stamps ``actor``.

        Raises :class:`NotFoundError` for a missing or deleted id and :class:`CRMValidationError`
        for values the CRM rejects. Not logged in ``calls`` (crmgate did not make the call).
        """
        self._check_object(object)
        with self._transaction() as conn:
            row = fetch_row(conn, object, id)
            gone = gone_error(row, id)
            if gone is not None:
                raise NotFoundError(gone.message, code=gone.code, status=404)
            error = bad_values(fields) or required_error(object, fields, creating=False)
            if error is not None:
                raise CRMValidationError(error.message, code=error.code, status=error.status, fields=error.fields)
            return write_fields(conn, row, fields, self._clock(), actor)

    def inject_fault(
        self,
        method: str,
        *,
        code: str,
        record_id: str | None = None,
        times: int = 1,
        whole_call: bool = False,
        status: int = 500,
        message: str | None = None,
        retry_after: float | None = None,
        after: int = 0,
        after_write: bool = False,
    ) -> None:
        """Make ``times`` matching calls or records of ``method`` fail, after letting ``after`` pass.

        ``whole_call=True``: the call (one chunk) raises the CRMError subclass for ``code``/``status``
        (``connection_error``/``timeout`` -> TransportError, 429/``rate_limited`` -> RateLimitError,
        ``quota_exhausted``, 401, 403, 404, 412, 400, ``malformed_response``, 5xx -> UnavailableError;
        ``process_killed`` raises :class:`ProcessKilled`, the caller dying mid-call)
        before anything is written (``ambiguous`` false: the sandbox knows nothing was applied); with
        ``after_write=True`` the chunk is written first and the error is ambiguous, as a reply lost
        or a 5xx after the CRM applied the write. Otherwise each matching record's result is ``failed`` with
        ``code``; ``record_id`` matches an update/delete id or a create's idempotency key, ``None``
        matches any record. ``get_many`` faults are whole-call only.
        """
        if method not in ("get_many", "find_candidates", *WRITE_METHODS):
            raise ValueError(f"unknown method {method!r}")
        if times < 1 or after < 0 or (whole_call and record_id is not None) \
                or (method in ("get_many", "find_candidates") and not whole_call) \
                or (after_write and (not whole_call or method == "get_many")):
            raise ValueError("bad fault: times >= 1; record_id only per record; get_many faults are whole-call")
        text = message or f"injected fault {code} ({status})"
        self._faults.append(Fault(method, code, record_id, times, whole_call, status, text, retry_after, after,
                                  after_write))

    def clear_faults(self) -> None:
        """Forget every injected fault not yet used."""
        self._faults.clear()

    # -- internals ---------------------------------------------------------------------------------

    def _check_object(self, object: str) -> None:
        if object not in KEY_PREFIXES:
            raise NotFoundError(f"unknown object {object!r}", code="unknown_object", status=404)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise CRMError("the sandbox adapter is closed", code="closed")
        return self._conn

    def _take_fault(self, method: str, whole_call: bool, key: str | None = None) -> Fault | None:
        for fault in self._faults:
            if fault.method == method and fault.whole_call == whole_call and fault.record_id in (None, key):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _chunks(self, method: str, object: str, items: Sequence[_R]) -> Iterator[Sequence[_R]]:
        """Each chunk is one simulated call: logged, then possibly failed as a whole."""
        for start in range(0, len(items), self.max_batch):
            chunk = items[start : start + self.max_batch]
            self.calls.append((method, object, len(chunk)))
            fault = self._take_fault(method, whole_call=True)
            if fault is not None and not fault.after_write:
                raise fault.error()
            yield chunk
            if fault is not None:  # after_write: the caller has committed the chunk by now
                raise fault.error()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, translated():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # also after a failed COMMIT, so the next call can begin
                    conn.execute("ROLLBACK")
                raise

    def _write(
        self,
        method: str,
        object: str,
        requests: Sequence[Any],
        one: Callable[[sqlite3.Connection, str, Any, datetime], WriteResult],
        chunked: Callable[[sqlite3.Connection, str, Any, datetime, str], list[WriteResult] | None] | None = None,
    ) -> list[WriteResult]:
        self._check_object(object)
        requests = list(requests)
        results: list[WriteResult] = []
        start = 0
        try:
            for chunk in self._chunks(method, object, requests):
                start = len(results)
                with self._transaction() as conn:
                    now = self._clock()
                    done = chunked(conn, object, chunk, now, self.user) \
                        if chunked is not None and not self._faults else None  # faults: one at a time
                    results.extend(done if done is not None else
                                   [one(conn, object, request, now) for request in chunk])
        except CRMError as exc:
            # earlier chunks stand; a chunk whose answer was lost is ambiguous, unsent ones are not
            known = start if exc.ambiguous else len(results)
            if known == 0:
                raise
            error = exc.to_record_error()
            results = results[:known] + [WriteResult("failed", getattr(r, "id", None), error=error)
                                         for r in requests[known:len(results)]]
            results += [WriteResult("failed", getattr(r, "id", None), error=error.certain())
                        for r in requests[len(results):]]
        return results

    def _create_one(self, conn: sqlite3.Connection, object: str, req: CreateRequest, now: datetime) -> WriteResult:
        key = req.idempotency_key
        fault = self._take_fault("create_many", False, key)
        if fault is not None:
            return WriteResult("failed", error=fault.record_error())
        if key is not None:
            seen = conn.execute(
                "SELECT id FROM sandbox_idempotency WHERE object = ? AND key = ?", (object, key)
            ).fetchone()
            if seen is not None:
                row = fetch_row(conn, object, seen["id"])
                record = None if row is None or row["is_deleted"] else to_record(row)
                return WriteResult("ok", seen["id"], record, info={"idempotent_replay": True})
        error = bad_values(req.fields) or required_error(object, req.fields, creating=True)
        if error is not None:
            return WriteResult("failed", error=error)
        (number,) = conn.execute(
            "INSERT INTO sandbox_counters (object, next) VALUES (?, 1)"
            " ON CONFLICT (object) DO UPDATE SET next = next + 1 RETURNING next",
            (object,),
        ).fetchone()
        new_id = salesforce_id(KEY_PREFIXES[object], number)
        stamp = next_stamp(now, None)
        fields = {name: value for name, value in req.fields.items() if value is not None}
        conn.execute(
            "INSERT INTO sandbox_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (new_id, object, dump_fields(fields), stamp, self.user, stamp, self.user, stamp),
        )
        if key is not None:
            conn.execute("INSERT INTO sandbox_idempotency VALUES (?, ?, ?)", (object, key, new_id))
        return WriteResult("ok", new_id, written(object, new_id, fields, stamp, self.user, stamp, self.user))

    def _update_one(self, conn: sqlite3.Connection, object: str, req: UpdateRequest, now: datetime) -> WriteResult:
        row, early = self._precheck(conn, "update_many", object, req.id, req.expected_version)
        if early is not None:
            return early
        error = bad_values(req.fields) or required_error(object, req.fields, creating=False)
        if error is not None:
            return WriteResult("failed", req.id, error=error)
        return WriteResult("ok", req.id, write_fields(conn, row, req.fields, now, self.user))

    def _delete_one(self, conn: sqlite3.Connection, object: str, req: DeleteRequest, now: datetime) -> WriteResult:
        row, early = self._precheck(conn, "delete_many", object, req.id, req.expected_version)
        if early is not None:
            return early
        stamp = next_stamp(now, row["system_modstamp"])
        conn.execute(
            "UPDATE sandbox_records SET is_deleted = 1, last_modified_date = ?, last_modified_by = ?,"
            " system_modstamp = ? WHERE id = ?",
            (stamp, self.user, stamp, req.id),
        )
        return WriteResult("ok", req.id)

    def _precheck(
        self, conn: sqlite3.Connection, method: str, object: str, id: str, expected: str | None
    ) -> tuple[Any, WriteResult | None]:
        """The stored row, or the result that ends this request early (fault, missing, conflict)."""
        fault = self._take_fault(method, False, id)
        if fault is not None:
            return None, WriteResult("failed", id, error=fault.record_error())
        row = fetch_row(conn, object, id)
        gone = gone_error(row, id)
        if gone is not None:
            return None, WriteResult("failed", id, error=gone)
        conflict = conflict_error(id, expected, row)
        if conflict is not None:
            return None, WriteResult("conflict", id, error=conflict)
        return row, None


def _same(value: Any, wanted: Any) -> bool:
    if value == wanted and isinstance(value, bool) == isinstance(wanted, bool):
        return True
    return isinstance(wanted, str) and value is not None and str(value) == wanted
