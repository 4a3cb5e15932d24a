"""Idempotent batch creates for HubSpot.

Every input carries ``objectWriteTraceId`` (its position) so a 207 maps each error to its input and
each result to its request. A request with an ``idempotency_key`` also sets the adapter's unique-value
``idempotency_property`` to the key: HubSpot then refuses a second record with that value (409
``OBJECT_ALREADY_EXISTS``), whether the first came from an earlier call whose answer was lost or from
a retry inside this one. Those refusals are answered with one batch read by ``idProperty`` = the key
property; a record found that way is the earlier create, returned as ``ok`` with
``info["idempotent_replay"]`` and left untouched (an upsert would overwrite edits made since).
Two requests with the same key in one call create one record.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from crmgate.adapters.base import CreateRequest, Record, WriteResult
from crmgate.adapters.errors import CRMError, RecordError
from crmgate.adapters.hubspot.records import encode, results_of


class Batcher(Protocol):
    """What a batch create needs of the adapter (the HubSpot adapter is the one implementation)."""

    idempotency_property: str | None
    max_batch: int
    _hidden: frozenset[str]
    _batch: Any
    _seen: Any
    _clock: Callable[[], float]

    def _call(self, method: Callable[..., Any], object: str, body: Any, *, no_blind_retry: bool = False) -> Any: ...
    def _fail_rest(self, results: list[WriteResult | None], todo: Sequence[Any],
                   requests: Sequence[CreateRequest], exc: CRMError, *, sent: int) -> None: ...
    def _errors_by_input(self, resp: Any, by_id: Mapping[str, int], by_trace: Mapping[str, int]) -> Any: ...
    def _record(self, object: str, obj: Any) -> Record: ...
    def _read(self, object: str, ids: Sequence[str], **kwargs: Any) -> dict[str, Record]: ...


def create_many(adapter: Batcher, object: str, requests: list[CreateRequest]) -> list[WriteResult]:
    key_prop = adapter.idempotency_property
    results: list[WriteResult | None] = [None] * len(requests)
    encoded: dict[int, dict[str, str]] = {}
    first_of_key: dict[str, int] = {}
    same_key: dict[int, int] = {}
    for i, req in enumerate(requests):
        props = encode(req.fields, adapter._hidden)
        if isinstance(props, RecordError):
            results[i] = WriteResult("failed", error=props)
            continue
        key = req.idempotency_key
        if key is not None and key_prop:
            if key in first_of_key:
                same_key[i] = first_of_key[key]
                continue
            first_of_key[key] = i
            props[key_prop] = key
        encoded[i] = props
    todo = list(encoded)
    replays: dict[int, RecordError] = {}
    for n, start in enumerate(range(0, len(todo), adapter.max_batch)):
        chunk = todo[start:start + adapter.max_batch]
        inputs = [{"properties": encoded[i], "objectWriteTraceId": str(i), "associations": []} for i in chunk]
        try:
            resp = adapter._call(adapter._batch.create, object, {"inputs": inputs}, no_blind_retry=key_prop is None)
        except CRMError as exc:
            if n == 0:
                raise
            adapter._fail_rest(results, todo[start:], requests, exc, sent=len(chunk))
            break
        by_trace = {str(i): i for i in chunk}
        by_key = {encoded[i][key_prop]: i for i in chunk if key_prop and key_prop in encoded[i]}
        failed = adapter._errors_by_input(resp, {}, by_trace)
        now = adapter._clock()
        for obj in results_of(resp):
            i = _position(obj, by_trace, by_key, key_prop)
            if i is None:
                continue
            record = adapter._record(object, obj)
            adapter._seen.put(object, record.id, record.version, now)
            results[i] = WriteResult("ok", record.id, record)
        for i, error in failed.items():
            if error.code == "OBJECT_ALREADY_EXISTS" and key_prop and key_prop in encoded[i]:
                replays[i] = error
            else:
                results[i] = WriteResult("failed", error=error)
        for i in chunk:
            if results[i] is None and i not in replays:
                # HubSpot's spec makes the echoed objectWriteTraceId optional: a result we cannot
                # match may well be this input's record, so its outcome is unknown, not failed
                results[i] = WriteResult("failed", error=RecordError(
                    "missing_result", "HubSpot returned neither a matching result nor an error for this input",
                    ambiguous=True))
    if replays:
        _answer_replays(adapter, object, encoded, replays, results)
    for i, j in same_key.items():
        first = results[j]
        results[i] = first if first is None or first.status != "ok" else WriteResult(
            "ok", first.id, first.record, info={"idempotent_replay": True})
    return results  # type: ignore[return-value]


def _position(obj: Any, by_trace: dict[str, int], by_key: dict[str, int], key_prop: str | None) -> int | None:
    trace = obj.get("objectWriteTraceId")
    if trace is not None and str(trace) in by_trace:
        return by_trace[str(trace)]
    value = (obj.get("properties") or {}).get(key_prop) if key_prop else None
    return by_key.get(value) if value is not None else None


def _answer_replays(adapter: Batcher, object: str, encoded: dict[int, dict[str, str]],
                    replays: dict[int, RecordError], results: list[WriteResult | None]) -> None:
    """Refused for an existing key: find the record that key made; anything else stays failed."""
    key_prop = adapter.idempotency_property
    assert key_prop is not None
    keys = {encoded[i][key_prop]: i for i in replays}
    found: dict[str, Any] = {}
    wanted = list(keys)
    try:
        for start in range(0, len(wanted), adapter.max_batch):
            for record in adapter._read(object, wanted[start:start + adapter.max_batch],
                                        id_property=key_prop).values():
                found[str(record.meta.get(key_prop))] = record
    except CRMError as exc:
        for i in replays:
            results[i] = WriteResult("failed", error=exc.to_record_error())
        return
    for key, i in keys.items():
        record = found.get(key)
        if record is None:
            results[i] = WriteResult("failed", error=replays[i])
        else:
            results[i] = WriteResult("ok", record.id, record, info={"idempotent_replay": True})


def find_created(adapter: Batcher, object: str, keys: Sequence[str]) -> dict[str, Record] | None:
    """Records by the unique key property (batch reads by ``idProperty``); None without it."""
    key_prop = adapter.idempotency_property
    if not key_prop:
        return None
    wanted = list(dict.fromkeys(keys))
    found: dict[str, Record] = {}
    for start in range(0, len(wanted), adapter.max_batch):
        for record in adapter._read(object, wanted[start:start + adapter.max_batch], id_property=key_prop).values():
            found[str(record.meta.get(key_prop))] = record
    return found
