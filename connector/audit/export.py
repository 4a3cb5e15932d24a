"""Exports for auditors: the trail, filtered, as JSONL or CSV, with a chain proof and a signed manifest.

:func:`export_trail` writes its files in ONE pass over one read snapshot of the store, so memory
stays flat however long the trail is (a CSV's rows are rendered and written beside that pass, by a
worker process on a large trail: :mod:`crmgate.audit.csvworker`):

* ``PATH``: the selected entries (formats in :mod:`crmgate.audit.formats`);
* ``PATH.entries.jsonl`` (CSV only): the selected entries as hashed, in the JSONL format, which the
  offline verifier checks and renders into the CSV's rows again;
* ``PATH.chain``: every seq from 1 to the head with its hash, flagged exported or not, and every
  signed checkpoint (format in :mod:`crmgate.trail.chainproof`);
* ``PATH.manifest.json``: ``filters``, ``entries`` (count), ``rows`` (CSV rows, or the entry count),
  ``first_seq``/``last_seq`` of the exported entries (null when none), ``file``, ``file_format``,
  ``sha256`` and ``bytes`` of the export, ``entries_file`` (CSV: ``file``, ``sha256``, ``bytes``),
  ``chain`` (``file``, ``sha256``, ``bytes``), ``head`` (``seq``, ``hash``) at export time,
  ``head_checkpoint`` (the stored checkpoint of the head: seq, head_hash, ts, key_id, signature),
  ``created_at``, ``format``, and ``key_id`` + ``signature``: the trail key's Ed25519 signature over
  the rest (so exporting needs the trail private key).

The stored chain is verified on the rows as they are written: seqs gap-free from 1, every
``prev_hash`` the hash before it, every hash recomputed from its body, every checkpoint signed and
equal to the chain at its seq, the last entry signed and equal to the head row, and every column
the export reads (the selection's) equal to the hashed body (an unfiltered export reads no column
but the hashes: every byte it writes comes from the body). At the first row that does not pass,
the export starts again under the full trail verifier (:func:`crmgate.trail.verify_entries`, which
also checks every indexed column), so a trail that does not verify is not exported:
:class:`TrailInvalidError` carries the verifier's report and no file is left behind. Files are written under ``.part`` names and renamed at the end; existing
files are replaced.

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

In CSV, ``status`` is the change's status after each entry, read from that entry alone
(:func:`crmgate.audit.lifecycle.entry_status`): no map of changes is kept.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from crmgate.audit.csvworker import CsvRenderer, NotRendered
from crmgate.audit.formats import CSV_COLUMNS, ENTRIES_SUFFIX, csv_text, jsonl_line
from crmgate.audit.streamcheck import Recheck, stream_checked
from crmgate.clock import Clock, iso, parse_time, utc_now  # noqa: F401 - parse_time re-exported for the CLI
from crmgate.trail import TrailSigner, TrailStore, VerifyReport, verify_entries
from crmgate.trail.chainproof import ChainWriter, sign_manifest
from crmgate.trail.records import Checkpoint
from crmgate.trail.verify import Problem

FORMATS = ("jsonl", "csv")
#: from this many entries in the trail, a CSV's rows are rendered in a worker process by default
PARALLEL_FROM = 100_000
#: entries per batch handed to the CSV renderer
BATCH = 1000
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
    """A binary file that hashes and counts what is written to it: ``write`` gathers text in memory
    (a list's C ``append``: an export makes two or three writes per entry) and :meth:`spill` writes
    it out once it holds about 1 MiB."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.sha = hashlib.sha256()
        self.bytes = 0
        self._buf: list[str] = []
        self.write = self._buf.append

    def spill(self) -> None:
        if sum(map(len, self._buf)) > 1 << 20:
            self.flush()

    def flush(self) -> None:
        data = "".join(self._buf).encode("utf-8")
        self._buf.clear()
        self.sha.update(data)
        self.bytes += len(data)
        self.fh.write(data)


def sidecar_paths(out: str | os.PathLike[str]) -> tuple[Path, Path, Path]:
    """Return the ``(manifest, chain, entries)`` paths for an export at ``out`` (``entries``, the
    hashed entries beside a CSV, exists for CSV exports only)."""
    out = Path(out)
    return (out.with_name(out.name + ".manifest.json"), out.with_name(out.name + ".chain"),
            out.with_name(out.name + ENTRIES_SUFFIX))


def export_trail(store: TrailStore, out: str | os.PathLike[str], *, fmt: str = "jsonl",
                 filters: ExportFilters = ExportFilters(), signer: TrailSigner,
                 clock: Clock | None = None, progress: Progress | None = None,
                 parallel: bool | None = None) -> dict[str, Any]:
    """Export the trail to ``out`` (see the module docstring) and return the signed manifest.

    ``progress(n)`` is called with the number of entries read since the last call. ``parallel``:
    render a CSV's rows in a worker process (:mod:`crmgate.audit.csvworker`); by default when the
    trail holds :data:`PARALLEL_FROM` entries or more and the machine more than one core. Raises
    :class:`TrailInvalidError` when the stored trail does not verify, ``ValueError`` on a bad ``fmt``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (expected one of {', '.join(FORMATS)})")
    try:
        return _export(store, Path(out), fmt, filters, signer, clock, progress, parallel, careful=False)
    except Recheck:  # the streaming check saw something: the trail verifier names it exactly
        return _export(store, Path(out), fmt, filters, signer, clock, progress, False, careful=True)


def _export(store: TrailStore, out: Path, fmt: str, filters: ExportFilters, signer: TrailSigner,
            clock: Clock | None, progress: Progress | None, parallel: bool | None, *,
            careful: bool) -> dict[str, Any]:
    manifest_path, chain_path, entries_path = sidecar_paths(out)
    finals = [out, chain_path, manifest_path, *([entries_path] if fmt == "csv" else [])]
    parts = [p.with_name(p.name + ".part") for p in finals]
    try:
        with ExitStack() as files:
            # JSONL: the lines are the export; CSV: they go to the entries file and the renderer
            # writes the CSV (in a worker process, or here)
            lines, chain = (_Sink(files.enter_context(open(p, "wb")))
                            for p in (parts[3] if fmt == "csv" else parts[0], parts[1]))
            with store.scan() as scan:
                head = scan.head()
                select, changes = _selector(scan, filters)
                renderer = None
                if fmt == "csv":
                    if parallel is None:
                        parallel = head is not None and head[0] >= PARALLEL_FROM and (os.cpu_count() or 1) > 1
                    renderer = CsvRenderer(parts[0], csv_text([list(CSV_COLUMNS)]), parallel)
                    files.callback(renderer.close)
                writer = _Writer(lines, chain, progress, renderer, careful)
                if careful:
                    report = verify_entries(_stream(scan.rows(), scan.checkpoints(), select, writer),
                                            scan.checkpoints(), signer.public_key())
                    report = _with_head(report, head)
                    if not report.ok:
                        raise TrailInvalidError(report)
                    head_seq, head_hash = report.head_seq, report.head_hash
                else:
                    head_seq, head_hash = stream_checked(scan, head, signer.public_key(), _filtered(filters), select,
                                                          writer)
            writer.done()
            for sink in (lines, chain):
                sink.flush()
        stats = writer.stats
        sha, size = writer.csv if renderer is not None else (lines.sha.hexdigest(), lines.bytes)
        manifest = {
            "created_at": iso((clock or utc_now)()),
            "file": out.name, "file_format": fmt, "sha256": sha, "bytes": size,
            "entries": stats.entries, "rows": stats.rows, "first_seq": stats.first, "last_seq": stats.last,
            "filters": filters.to_dict(),
            "selection": {"by": "changes" if changes is not None else "entries", "changes": changes,
                          "how": filters.describe()},
            "chain": {"file": chain_path.name, "sha256": chain.sha.hexdigest(), "bytes": chain.bytes},
            "head": {"seq": head_seq, "hash": head_hash},
            "head_checkpoint": stats.last_checkpoint.to_dict() if stats.last_checkpoint else None,
        }
        if fmt == "csv":
            manifest["entries_file"] = {"file": entries_path.name, "sha256": lines.sha.hexdigest(),
                                        "bytes": lines.bytes}
        manifest = sign_manifest(manifest, signer)
        parts[2].write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        for part, final_path in zip(parts, finals):
            os.replace(part, final_path)
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


class _Writer:
    """Writes each entry's line (to the JSONL export, or to a CSV's entries file and renderer) and
    the chain file, and counts."""

    def __init__(self, lines: _Sink, chain: _Sink, progress: Progress | None,
                 renderer: CsvRenderer | None = None, careful: bool = False) -> None:
        self.lines, self.chain = lines, ChainWriter(chain.write)
        self.sinks = (lines, chain)
        self.renderer, self.careful = renderer, careful
        self.batch: list[str] = []  # a CSV's entry lines not yet handed to the renderer
        self.csv = ("", 0)  # a CSV's SHA-256 and bytes, once done
        self.stats = _Stats()
        self.progress, self.unreported = progress, 0

    def entry(self, seq: int, body: str, prev: str, digest: str, selected: bool) -> None:
        if selected:
            stats = self.stats
            line = jsonl_line(body, prev, digest) + "\n"
            self.lines.write(line)
            if self.renderer is None:
                stats.rows += 1
            else:
                self.batch.append(line)
                if len(self.batch) >= BATCH:
                    self._render()
            stats.entries += 1
            if stats.first is None:
                stats.first = seq
            stats.last = seq
        self.chain.entry(seq, digest, selected)
        self.unreported += 1
        if self.unreported >= 1000:
            for sink in self.sinks:
                sink.spill()
            if self.progress is not None:
                self.progress(self.unreported)
            self.unreported = 0

    def checkpoint(self, cp: Checkpoint) -> None:
        self.chain.checkpoint(cp)
        self.stats.last_checkpoint = cp

    def _render(self, finish: bool = False) -> None:
        """Hand the batch to the renderer; when ``finish``, also wait for the CSV and take its counts."""
        assert self.renderer is not None
        lines, self.batch = "".join(self.batch), []
        try:
            if lines:
                self.renderer.add(lines)
            if finish:
                sha, size, self.stats.rows = self.renderer.finish()
                self.csv = (sha, size)
        except NotRendered:  # a body that is not JSON: the trail verifier names it
            if not self.careful:
                raise Recheck from None

    def done(self) -> None:
        if self.renderer is not None:
            self._render(finish=True)
        if self.progress is not None and self.unreported:
            self.progress(self.unreported)


def _selector(scan: Any, filters: ExportFilters) -> tuple[Selector, int | None]:
    """Which rows to export, and how many changes were selected (None: entries are selected by time)."""
    if not filters.equal():
        return filters.matches, None
    ids = scan.proposal_ids(filters.equal(), filters.since, filters.until)
    return (lambda row: row["proposal_id"] in ids or filters.matches(row)), len(ids)


def _filtered(filters: ExportFilters) -> bool:
    return any(value is not None for value in filters.to_dict().values())


def _stream(rows: Iterator[dict[str, Any]], checkpoints: Iterator[Checkpoint], select: Selector,
            writer: _Writer) -> Iterator[dict[str, Any]]:
    """The careful path: write each row, then hand it to the trail verifier."""
    pending = next(checkpoints, None)
    for row in rows:
        seq = int(row["seq"])
        writer.entry(seq, row["body"], row["prev_hash"], row["hash"], select(row))
        while pending is not None and pending.seq <= seq:
            writer.checkpoint(pending)
            pending = next(checkpoints, None)
        yield row


def _with_head(report: VerifyReport, head: tuple[int, str] | None) -> VerifyReport:
    """Fold the head-row check into the stream report (the stream verifier does not see the head row)."""
    if head is not None and head == (report.head_seq, report.head_hash):
        return report
    seq = report.head_seq + 1 if head is None or head[0] > report.head_seq else (head[0] or 1)
    problem = Problem(seq, "head_mismatch", f"the head row says {head!r} but the chain ends at seq "
                                           f"{report.head_seq} with hash {report.head_hash}")
    first = min(s for s in (report.first_bad_seq, seq) if s is not None)
    return replace(report, ok=False, problems=(*report.problems, problem), first_bad_seq=first)
