"""Collections answers as WriteResults, version-check bookkeeping, chunking: the adapter's plumbing."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from crmgate.adapters.base import WriteResult
from crmgate.adapters.errors import ResponseError
from crmgate.adapters.salesforce.errors import record_error


class Checks:
    """The outcome of a version check: conflicts, and how/when each other request was checked."""

    def __init__(self) -> None:
        self.conflicts: dict[int, WriteResult] = {}
        self.checked_at: dict[int, tuple[str, datetime]] = {}

    def annotate(self, positions: list[int], got: list[WriteResult], sent_at: datetime) -> list[WriteResult]:
        """Put the residual window into each result's ``info`` (it reaches the trail's write.result):
        how the version was checked and how many ms before the write call."""
        out = []
        for i, res in zip(positions, got):
            how = self.checked_at.get(i)
            if how is not None:
                age_ms = round((sent_at - how[1]).total_seconds() * 1000, 1)
                res = replace(res, info={**res.info, "version_check": how[0], "check_age_ms": age_ms})
            out.append(res)
        return out


def collection_results(body: Any, ids: list[str | None]) -> list[WriteResult]:
    """A Collections answer (one result per record, in request order) as WriteResults."""
    if not isinstance(body, list) or len(body) != len(ids):
        raise ResponseError(f"Collections: expected {len(ids)} results in a list; got {type(body).__name__}"
                            f"{'' if not isinstance(body, list) else f' of {len(body)}'}")
    out = []
    for sent_id, item in zip(ids, body):
        if not isinstance(item, Mapping) or not isinstance(item.get("success"), bool):
            raise ResponseError("Collections: a result without a boolean 'success'")
        rid = item.get("id") if isinstance(item.get("id"), str) else sent_id
        if item["success"]:
            info = {"idempotent_replay": True} if item.get("created") is False else {}
            out.append(WriteResult("ok", id=rid, info=info))
        else:
            err = record_error(item.get("errors"))
            out.append(WriteResult("conflict" if err.status == 412 else "failed", id=rid, error=err))
    return out


def key_value(key: str | None) -> str:
    """An idempotency key that fits a Text(80) External ID field."""
    key = key or ""
    return key if len(key) <= 80 else "h-" + hashlib.sha256(key.encode("utf-8")).hexdigest()
