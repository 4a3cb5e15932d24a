"""Exports for auditors: the trail, filtered, as JSONL or CSV, with a chain proof and a signed manifest.

:func:`export_trail` writes three files in ONE pass over one read snapshot of the store, so memory
stays flat however long the trail is:

* ``PATH``: the selected entries (formats in :mod:`crmgate.audit.formats`);
* ``PATH.chain``: every seq from 1 to the head with its hash, flagged exported or not, and every
  signed checkpoint (format in :mod:`crmgate.trail.chainproof`);
* ``PATH.manifest.json``: ``filters``, ``entries`` (count), ``rows`` (CSV rows, or the entry count),
  ``first_seq``/``last_seq`` of the exported entries (null when none), ``file``, ``file_format``,
  ``sha256`` and ``bytes`` of the export, ``chain`` (``file``, ``sha256``, ``bytes``), ``head``
  (``seq``, ``hash``) at export time, ``head_checkpoint`` (the stored checkpoint of the head: seq,
  head_hash, ts, key_id, signature), ``created_at``, ``format``, and ``key_id`` + ``signature``: the
  trail key's Ed25519 signature over the rest (so exporting needs the trail private key).

While streaming, the whole stored chain is verified (every hash, every checkpoint signature, the
head row). A trail that does not verify is not exported: :class:`TrailInvalidError` carries the
verifier's report and no file is left behind. Files are written under ``.part`` names and renamed
at the end; existing files are replaced.

Selection (said in the manifest's ``selection``):

* ``actor``, ``use_case``, ``object`` or ``record_id`` select CHANGES: every proposal with at least
  one entry whose columns equal every given filter (and whose ``ts`` is in ``[since, until)``).
  The export then holds EVERY entry of those changes, whoever made it and whenever: decision,
  intent, result, approval with its edits, rejection, stale verdict, requeue, rollback,
  reconciliation, feedback. So ``--actor ai:deal-hygiene`` is that agent's changes with the
  people's approvals and rollbacks of them; ``--actor admin:ana`` is every change she proposed or
  acted on. Entries outside any change (credentials) are exported when they match themselves.
  The selected proposal ids are held in memory (one short string each).
* ``since`` / ``until`` alone select entries by time.

In CSV, ``status`` is each change's final status (:mod:`crmgate.audit.lifecycle`), folded in a
first pass over the selected entries.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from crmgate.audit.formats import CSV_COLUMNS, csv_rows, csv_text, jsonl_line
from crmgate.audit.lifecycle import StatusFold
from crmgate.clock import Clock, iso, parse_time, utc_now  # noqa: F401 - parse_time re-exported for the CLI
from crmgate.trail import TrailSigner, TrailStore, VerifyReport, verify_entries
from crmgate.trail.chainproof import ChainWriter, sign_manifest
from crmgate.trail.records import Checkpoint
from crmgate.trail.verify import Problem

FORMATS = ("jsonl", "csv")
Progress = Callable[[int], None]
Selector = Callable[[dict[str, Any]], bool]
_CHANGE_FILTERS = ("actor", "use_case", "object", "record_id")


class TrailInvalidError(Exception):
    """The stored trail failed verification during an export; ``report`` says where."""

    def __init__(self, report: VerifyReport) -> None:
        super().__init__(report.summary())
        self.report = report


@dataclass(frozen=True, slots=True)
class ExportFilters:
    """What to export; ``since``/``until`` in the trail's stored time form (see :func:`parse_time`)."""

    since: str | None = None
    until: str | None = None
    actor: str | None = None
    use_case: str | None = None
    object: str | None = None
    record_id: str | None = None

    def matches(self, row: dict[str, Any]) -> bool:
        if self.since is not None and row["ts"] < self.since:
            return False
        if self.until is not None and row["ts"] >= self.until:
            return False
        return all(want is None or row[name] == want for name, want in (
            ("actor", self.actor), ("use_case", self.use_case), ("object", self.object),
            ("record_id", self.record_id)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def equal(self) -> dict[str, str]:
        """The given column filters (those that select changes)."""
        return {name: getattr(self, name) for name in _CHANGE_FILTERS if getattr(self, name) is not None}

    def describe(self) -> str:
        """How the selection is made, in words (the manifest's ``selection.how``)."""
        window = " and ".join(w for w in (f"at or after {self.since}" if self.since else "",
                                          f"before {self.until}" if self.until else "") if w)
        if self.equal():
            where = ", ".join(f"{k} = {v}" for k, v in self.equal().items())
            return (f"changes with at least one entry where {where}{' ' + window if window else ''}; every entry "
                    "of each selected change is exported, whoever made it and whenever (decision, intent, "
                    "result, approval and edits, rejection, stale, requeue, rollback, reconciliation, "
                    "feedback); entries of no change are exported when they match themselves")
        return f"every entry {window}" if window else "every entry"


class _Sink:
    """A binary file that hashes and counts what is written to it."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.sha = hashlib.sha256()
        self.bytes = 0

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        self.sha.update(data)
        self.bytes += len(data)
        self.fh.write(data)


def sidecar_paths(out: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Return ``(manifest, chain)`` paths for an export at ``out``."""
    out = Path(out)
    return out.with_name(out.name + ".manifest.json"), out.with_name(out.name + ".chain")


def export_trail(store: TrailStore, out: str | os.PathLike[str], *, fmt: str = "jsonl",
                 filters: ExportFilters = ExportFilters(), signer: TrailSigner,
                 clock: Clock | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Export the trail to ``out`` (see the module docstring) and return the signed manifest.

    ``progress(n)`` is called with the number of entries read since the last call. Raises
    :class:`TrailInvalidError` when the stored trail does not verify, ``ValueError`` on a bad ``fmt``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (expected one of {', '.join(FORMATS)})")
    out = Path(out)
    manifest_path, chain_path = sidecar_paths(out)
    parts = [p.with_name(p.name + ".part") for p in (out, chain_path, manifest_path)]
    try:
        with open(parts[0], "wb") as data_fh, open(parts[1], "wb") as chain_fh:
            data, chain = _Sink(data_fh), _Sink(chain_fh)
            if fmt == "csv":
                data.write(csv_text([list(CSV_COLUMNS)]))
            stats = _Stats()
            with store.scan() as scan:
                head = scan.head()
                select, changes = _selector(scan, filters)
                final = _final_statuses(scan.rows(), select) if fmt == "csv" else None
                rows = _stream(scan.rows(), scan.checkpoints(), fmt, select, final, data,
                               ChainWriter(chain.write), stats, progress)
                report = verify_entries(rows, scan.checkpoints(), signer.public_key())
            report = _with_head(report, head)
            if not report.ok:
                raise TrailInvalidError(report)
        manifest = sign_manifest({
            "created_at": iso((clock or utc_now)()),
            "file": out.name, "file_format": fmt, "sha256": data.sha.hexdigest(), "bytes": data.bytes,
            "entries": stats.entries, "rows": stats.rows, "first_seq": stats.first, "last_seq": stats.last,
            "filters": filters.to_dict(),
            "selection": {"by": "changes" if changes is not None else "entries", "changes": changes,
                          "how": filters.describe()},
            "chain": {"file": chain_path.name, "sha256": chain.sha.hexdigest(), "bytes": chain.bytes},
            "head": {"seq": report.head_seq, "hash": report.head_hash},
            "head_checkpoint": stats.last_checkpoint.to_dict() if stats.last_checkpoint else None,
        }, signer)
        parts[2].write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        for part, final in zip(parts, (out, chain_path, manifest_path)):
            os.replace(part, final)
        return manifest
    finally:
        for part in parts:
            part.unlink(missing_ok=True)


@dataclass
class _Stats:
    entries: int = 0
    rows: int = 0
    first: int | None = None
    last: int | None = None
    last_checkpoint: Checkpoint | None = None


def _selector(scan: Any, filters: ExportFilters) -> tuple[Selector, int | None]:
    """Which rows to export, and how many changes were selected (None: entries are selected by time)."""
    if not filters.equal():
        return filters.matches, None
    ids = scan.proposal_ids(filters.equal(), filters.since, filters.until)
    return (lambda row: row["proposal_id"] in ids or filters.matches(row)), len(ids)


def _final_statuses(rows: Iterator[dict[str, Any]], select: Selector) -> dict[str, str]:
    fold = StatusFold()
    for row in rows:
        if select(row):
            fold.feed(json.loads(row["body"]))
    return fold.status


def _stream(rows: Iterator[dict[str, Any]], checkpoints: Iterator[Checkpoint], fmt: str,
            select: Selector, final: dict[str, str] | None, data: _Sink, chain: ChainWriter, stats: _Stats,
            progress: Progress | None) -> Iterator[dict[str, Any]]:
    """Write each row to the export (if selected) and the chain file, then hand it to the verifier."""
    pending = next(checkpoints, None)
    unreported = 0
    for row in rows:
        seq, digest = int(row["seq"]), row["hash"]
        selected = select(row)
        if selected:
            if fmt == "jsonl":
                data.write(jsonl_line(row["body"], row["prev_hash"], digest) + "\n")
                stats.rows += 1
            else:
                lines = csv_rows(row["body"], row["prev_hash"], digest, final)
                data.write(csv_text(lines))
                stats.rows += len(lines)
            stats.entries += 1
            stats.first = seq if stats.first is None else stats.first
            stats.last = seq
        chain.entry(seq, digest, selected)
        while pending is not None and pending.seq <= seq:
            chain.checkpoint(pending)
            stats.last_checkpoint = pending
            pending = next(checkpoints, None)
        unreported += 1
        if progress is not None and unreported >= 1000:
            progress(unreported)
            unreported = 0
        yield row
    if progress is not None and unreported:
        progress(unreported)


def _with_head(report: VerifyReport, head: tuple[int, str] | None) -> VerifyReport:
    """Fold the head-row check into the stream report (the stream verifier does not see the head row)."""
    if head is not None and head == (report.head_seq, report.head_hash):
        return report
    seq = report.head_seq + 1 if head is None or head[0] > report.head_seq else (head[0] or 1)
    problem = Problem(seq, "head_mismatch", f"the head row says {head!r} but the chain ends at seq "
                                           f"{report.head_seq} with hash {report.head_hash}")
    first = min(s for s in (report.first_bad_seq, seq) if s is not None)
    return replace(report, ok=False, problems=(*report.problems, problem), first_bad_seq=first)
