"""The adapter interface every CRM implements: sandbox, Salesforce, HubSpot.

Contract (checked by ``tests/adapter_contract.py``, which every adapter's tests subclass):

* ``get_many(object, ids)`` returns a dict of the records that exist, keyed by id. Missing or
  deleted ids are simply absent. It costs as few CRM calls as the API allows.
  ``get_many(object, ids, fields=names)`` (optional: an adapter that can read fewer fields takes
  it) returns records holding at least those of ``names`` that are set, and their version; a
  name the object lacks is ignored. Callers check that the adapter's ``get_many`` has the
  parameter before passing it (the write path's before-images do).
* ``create_many`` / ``update_many`` / ``delete_many`` take a sequence of requests for ONE object
  and return exactly one :class:`WriteResult` per request, **in request order**. A per-record
  failure is a result with ``status="failed"`` and a :class:`~crmgate.adapters.errors.RecordError`; it never
  raises and never stops the other records. The adapter splits the requests into batches at its
  API's maximum (``max_batch``) itself. Each chunk may commit on its own: when a later chunk
  fails as a whole call, earlier chunks are already written, which is why create requests carry
  idempotency keys and callers record intents before the call.
* A conditional request carries ``expected_version`` (the ``version`` of the record read earlier).
  If the record's current version differs, nothing is written for it and its result has
  ``status="conflict"``. A conflict is never retried.
* A create request carries an ``idempotency_key`` fixed before any retry; an adapter that can use it
  (or an upsert key) must never create two records for one key.
* Whole-call failures (auth, quota, CRM down after retries, garbage answers) raise a subclass of
  :class:`~crmgate.adapters.errors.CRMError`. Vendor exceptions never escape an adapter.
* ``find_candidates(object, keys, prefixes)`` (optional) returns records whose fields equal one of
  the given values or start with one of the given prefixes, ignoring case: the duplicate guard's
  one look-up per object per batch.
* ``write_lanes`` (default 1) is how many write calls of one batch the caller may keep in flight
  at once while it prepares the next (0: none, each call is made and answered before the next
  is prepared). An adapter whose calls are work in the caller's own process says 0; one that
  sends several calls at once says how many.
* ``Record.version`` is an opaque token that changes on every write to the record
  (Salesforce ``SystemModstamp``, HubSpot ``hs_lastmodifieddate``, the sandbox's ``SystemModstamp``).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from crmgate.adapters.errors import CRMError, RecordError

WriteStatus = Literal["ok", "conflict", "failed"]


@dataclass(frozen=True, slots=True)
class Record:
    """A record as read from the CRM. ``fields`` holds business fields only (no system stamps)."""

    object: str
    id: str
    fields: Mapping[str, Any]
    version: str
    #: system fields for display only (LastModifiedDate, LastModifiedById...); never compared
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "id": self.id,
            "version": self.version,
            "fields": dict(self.fields),
            "meta": dict(self.meta),
        }


@dataclass(frozen=True, slots=True)
class CreateRequest:
    fields: Mapping[str, Any]
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    """``strict``: the version check must be made by the CRM at the write itself (Salesforce's
    conditional single-record PATCH), never by a read before it, even if that costs more calls."""

    id: str
    fields: Mapping[str, Any]
    expected_version: str | None = None
    strict: bool = False


@dataclass(frozen=True, slots=True)
class DeleteRequest:
    id: str
    expected_version: str | None = None


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome for one request. ``record`` is the record after the write when the CRM returned
    it (or when the adapter re-read it); ``id`` is the record id (the new id for a create)."""

    status: WriteStatus
    id: str | None = None
    record: Record | None = None
    error: RecordError | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Adapter(ABC):
    """A CRM connection. See the module docstring for the contract."""

    #: the kind named in configuration: ``sandbox``, ``salesforce``, ``hubspot``
    kind: str = "abstract"
    #: the most records one write call carries; larger requests are split into chunks
    max_batch: int = 200
    #: write calls a caller may keep in flight at once (0: one after another; see the module docs)
    write_lanes: int = 1

    @abstractmethod
    def objects(self) -> Sequence[str]:
        """The object names this adapter can read and write."""

    @abstractmethod
    def get_many(self, object: str, ids: Sequence[str]) -> dict[str, Record]:
        """The existing records among ``ids``, keyed by id (see the module docstring for the
        optional ``fields=``)."""

    @abstractmethod
    def create_many(self, object: str, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        """Create records; one result per request, in order."""

    @abstractmethod
    def update_many(self, object: str, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        """Update records (conditionally where ``expected_version`` is set); one result per request."""

    @abstractmethod
    def delete_many(self, object: str, requests: Sequence[DeleteRequest]) -> list[WriteResult]:
        """Delete records (conditionally where ``expected_version`` is set); one result per request."""

    #: a create re-sent with the same idempotency key can never make a second record (upsert key)
    idempotent_creates: bool = False

    def find_created(self, object: str, keys: Sequence[str]) -> dict[str, Record] | None:
        """The records earlier creates made under ``keys`` (key -> record; a key that made none is
        absent), for reconciling creates whose answer was lost. None: this CRM cannot be searched
        by idempotency key (the default)."""
        return None

    #: the most candidate records one :meth:`find_candidates` returns (a bound, not a page size)
    max_candidates: int = 2000

    def find_candidates(self, object: str, keys: Mapping[str, Sequence[str]],
                        prefixes: Mapping[str, Sequence[str]]) -> list[Record]:
        """Live records of ``object`` that may duplicate new ones, in as few calls as the API allows.

        A record is returned when one of its ``keys`` fields equals one of that field's values, or
        one of its ``prefixes`` fields starts with one of that field's prefixes; both comparisons
        ignore case, like a CRM's own search. At most :attr:`max_candidates` records. Optional: an
        adapter without it raises :class:`CRMError` ``not_supported``.
        """
        raise CRMError(f"{self.kind} cannot look for duplicate candidates", code="not_supported")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Safe to call twice."""

    def __enter__(self) -> "Adapter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
