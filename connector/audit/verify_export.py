"""Offline verification of an export, and the truncation proof against an earlier export's manifest.

:func:`verify_export` needs the export, its ``.manifest.json`` and ``.chain`` beside it (and, for a
CSV, its ``.entries.jsonl``), and the trail's public key: no configuration, no database. It streams
the files in one pass each, so memory stays flat (but for a CSV of format 2). It checks:

1. the manifest's signature (trail key, made at export time) and the head checkpoint's signature,
   and that the checkpoint signs the manifest's head;
2. the SHA-256 of the export, the chain file and a CSV's entries file against the manifest;
3. the chain file: every seq from 1 to the head once, in order; every checkpoint signed and equal
   to the chain's hash at its seq; the chain ends at the signed head;
4. every exported entry (JSONL: the export's lines; CSV: its entries file): its hash recomputed
   from its body and ``prev_hash``; ``prev_hash`` is the chain's hash at seq-1 and ``hash`` the
   chain's hash at seq; it sits where the chain file says an exported entry sits. A line as the
   exporter wrote it is hashed as written (its body is the line up to the two hashes); any other
   line is parsed and its body rebuilt. A CSV's rows are rendered again from the entries and must
   equal the file byte for byte (the first entry whose rows differ is ``entry_edited``). CSVs of
   the older formats, told apart by their header, are read by :mod:`crmgate.audit.legacy`;
5. the manifest's counts and first/last seq against what was found.

Problem codes (stable): see :data:`crmgate.audit.manifest.PROBLEM_CODES`.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crmgate.audit.csvcheck import RowChecker, compared
from crmgate.audit.entrylines import Item, jsonl_items
from crmgate.audit.formats import (
    CSV_COLUMNS,
    ENTRIES_SUFFIX,
    csv_entry,
    csv_text,
)
from crmgate.audit.legacy import HEADERS, v1_items, v2_renderer
from crmgate.audit.manifest import (
    MAX_PROBLEMS,
    Findings,
    Stop,
    check_manifest,
    checkpoint_ok,
    file_sha256,
    load_manifest,
)
from crmgate.trail import (
    GENESIS,
    TrailVerifierKey,
    entry_hash,
)
from crmgate.trail.chainproof import ChainLine, read_chain
from crmgate.trail.verify import Problem


@dataclass(frozen=True, slots=True)
class ExportReport:
    """The verdict on an export. ``verified`` lists, in words, what a clean verification established
    (empty when anything is wrong: a failed report claims nothing)."""

    ok: bool
    file: str
    file_format: str | None
    entries: int
    chain_entries: int
    checkpoints: int
    head_seq: int | None
    head_hash: str | None
    first_bad_seq: int | None
    problems: tuple[Problem, ...]
    verified: tuple[str, ...]
    stopped_early: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in (
            "ok", "file", "file_format", "entries", "chain_entries", "checkpoints", "head_seq", "head_hash",
            "first_bad_seq", "stopped_early")}
        return out | {"problems": [p.to_dict() for p in self.problems], "verified": list(self.verified)}

    def summary(self) -> str:
        if self.ok:
            return (f"export OK: {self.entries} entries placed in a signed chain of {self.chain_entries} "
                    f"(head seq {self.head_seq}), {self.checkpoints} checkpoints")
        first = self.problems[0]
        return f"export INVALID: first bad seq {self.first_bad_seq}; {first.code}: {first.message}"


_HEADER = csv_text([list(CSV_COLUMNS)])
#: a CSV export of this many entries or more has its rows compared in a worker process
PARALLEL_FROM = 100_000


def _csv_items(path: Path, entries: Path, parallel: bool, stack: ExitStack) -> Iterator[Item]:
    """The hashed entries of a CSV export (from ``entries``), each checked against the CSV: its
    rows rendered again and compared with the file's text (:mod:`crmgate.audit.csvcheck`, in a
    worker process when ``parallel``). After the first difference the CSV is not compared further
    (its rows no longer line up); the file's SHA-256 is checked anyway. A worker for a format-3 CSV
    starts at once, so it renders while the caller hashes the files (``stack`` stops it)."""
    if parallel and entries.is_file():
        try:
            with open(path, encoding="utf-8", newline="") as fh:
                latest = fh.readline() == _HEADER
        except UnicodeDecodeError:  # raised again where the entries are read
            latest = False
        if latest:
            fh = stack.enter_context(open(path, encoding="utf-8", newline=""))  # noqa: SIM115 - closed by the stack
            fh.readline()
            checker = RowChecker(path, entries, fh, csv_entry, True)
            stack.callback(checker.close)
            return _compared_rows(entries, checker)
    return _csv_items_of(path, entries, parallel)


def _compared_rows(entries: Path, checker: RowChecker) -> Iterator[Item]:
    yield from compared(jsonl_items(entries), checker)
    if checker.extra():
        yield Item(-1, error="the CSV has rows after the last exported entry")


def _csv_items_of(path: Path, entries: Path, parallel: bool) -> Iterator[Item]:
    with open(path, encoding="utf-8", newline="") as fh:
        header = fh.readline()
        if header == HEADERS[1]:
            yield from v1_items(path, Item)
            return
        if header != _HEADER and header != HEADERS[2]:
            yield Item(-1, error="the CSV header is not the header of any crmgate CSV format (3, 2 or 1)")
            return
        if not entries.is_file():
            yield Item(-1, error=f"the CSV's entries file {entries.name} is missing")
            return
        latest = header == _HEADER
        checker = RowChecker(path, entries, fh, csv_entry if latest else v2_renderer(entries), parallel and latest)
        try:
            yield from _compared_rows(entries, checker)
        finally:
            checker.close()


def verify_export(path: str | os.PathLike[str], key: TrailVerifierKey, *,
                  manifest_path: str | os.PathLike[str] | None = None, parallel: bool | None = None) -> ExportReport:
    """Verify the export at ``path`` offline (see the module docstring); never raises on bad files.
    ``parallel``: compare a CSV's rows in a worker process; by default when the manifest counts
    :data:`PARALLEL_FROM` entries or more and the machine has more than one core."""
    path = Path(path)
    manifest_path = Path(manifest_path) if manifest_path else path.with_name(path.name + ".manifest.json")
    st = Findings()
    walk = _Walk(st, key)
    m = load_manifest(manifest_path)
    fmt = None
    stopped = False
    head_seq = head_hash = None
    stack = ExitStack()  # a CSV row checker's worker, stopped before the report is made
    try:
        if m is None:
            st.add(None, "manifest_unreadable", f"no readable manifest at {manifest_path}")
            raise Stop
        fmt = m.get("file_format") if m.get("file_format") in ("jsonl", "csv") else \
            ("csv" if path.suffix.lower() == ".csv" else "jsonl")
        head_seq, head_hash, signed_head = check_manifest(st, m, key)
        chain_file = manifest_path.with_name(str((m.get("chain") or {}).get("file") or path.name + ".chain"))
        entries = m.get("entries_file") if isinstance(m.get("entries_file"), dict) else {}
        entries_file = manifest_path.with_name(str(entries.get("file") or path.name + ENTRIES_SUFFIX))
        files = [("export", path, m.get("sha256"), "export_sha256"),
                 ("chain", chain_file, (m.get("chain") or {}).get("sha256"), "chain_sha256")]
        if entries:
            files.append(("entries", entries_file, entries.get("sha256"), "entries_sha256"))
        if parallel is None:
            parallel = _count(m.get("entries")) >= PARALLEL_FROM and (os.cpu_count() or 1) > 1
        items: Iterator[Item] = iter(())  # a missing file stops the loop below before any entry is read
        if all(file.is_file() for _, file, _, _ in files):
            items = _csv_items(path, entries_file, parallel, stack) if fmt == "csv" else jsonl_items(path)
        for label, file, want, code in files:
            if not file.is_file():
                st.add(None, "export_missing", f"the {label} file {file} is missing")
                raise Stop
            if file_sha256(file) != want:
                st.add(None, code, f"the {label} file's SHA-256 differs from the manifest: the file was changed")
        try:
            with open(chain_file, encoding="utf-8", newline="") as fh, closing(items):
                walk.run(read_chain(fh), items)
        except UnicodeDecodeError:
            st.add(None, "file_not_text", "the export or its chain file is not UTF-8 text: it was "
                                          "replaced or corrupted")
            raise Stop from None
        walk.finish(m, head_seq, head_hash, signed_head)
    except Stop:
        stopped = len(st.problems) >= MAX_PROBLEMS
    finally:
        stack.close()
    seqs = [p.seq for p in st.problems if p.seq is not None]
    return ExportReport(
        ok=not st.problems, file=str(path), file_format=fmt, entries=walk.found, chain_entries=walk.chain_seq,
        checkpoints=walk.checkpoints, head_seq=head_seq, head_hash=head_hash,
        first_bad_seq=min(seqs) if seqs else None, problems=tuple(st.problems),
        verified=_verified(fmt) if not st.problems else (), stopped_early=stopped)


def _count(value: Any) -> int:
    """The manifest's entry count as an int (0 when it is not one: it only picks how to verify)."""
    return value if type(value) is int else 0


def _verified(fmt: str | None) -> tuple[str, ...]:
    """What a verification that found no problem established (empty on any problem)."""
    entry = ("every entry in the CSV's entries file hashed again, and the CSV's rows rendered again from "
             "those entries and equal to the file" if fmt == "csv" else
             "every JSONL entry's hash recomputed from its content")
    return ("manifest signed by the trail key", ("head checkpoint signed by the trail key and equal to the "
            "manifest's head"), "export, entries and chain file SHA-256 equal to the manifest", entry,
            ("every entry's prev_hash and hash equal to the chain file at its seq, and its place among "
            "the exported seqs"), "every checkpoint in the chain file signed and equal to the chain there",
            "the chain file runs from seq 1 to the signed head", "manifest counts and first/last seq")


class _Walk:
    """Walks the chain file and the export in lockstep (both in seq order)."""

    def __init__(self, st: Findings, key: TrailVerifierKey) -> None:
        self.st, self.key = st, key
        self.prev = GENESIS
        self.chain_seq = 0
        self.found = 0
        self.marked = 0
        self.first_marked: int | None = None
        self.last_marked: int | None = None
        self.checkpoints = 0
        self.good_cp = 0
        self.bad_since_good: int | None = None
        self.last_export_seq = 0
        self.tail_from: int | None = None
        self.items: Iterator[Item] = iter(())
        self.x: Item | None = None

    def _add(self, seq: int | None, code: str, message: str) -> int:
        if seq is not None and (self.bad_since_good is None or seq < self.bad_since_good):
            self.bad_since_good = seq
        return self.st.add(seq, code, message)

    def _next(self) -> None:
        self.x = next(self.items, None)
        while self.x is not None and self.x.error:
            self._add(None, "malformed_entry", self.x.error)
            self.x = next(self.items, None)

    def run(self, chain: Iterator[ChainLine], items: Iterator[Item]) -> None:
        self.items = items
        self._next()
        for line in chain:
            if line.error:
                self._add(None, "chain_malformed", line.error)
                raise Stop
            if line.kind == "C":
                self._checkpoint(line)
                continue
            if line.seq != self.chain_seq + 1:
                self._add(self.chain_seq + 1, "chain_malformed",
                          f"the chain file jumps from seq {self.chain_seq} to {line.seq}")
                raise Stop
            self.chain_seq = line.seq
            if line.kind == "E":
                self._exported(line)
            self.prev = line.digest

    def _exported(self, line: ChainLine) -> None:
        self.marked += 1
        self.first_marked = self.first_marked or line.seq
        self.last_marked = line.seq
        while True:
            x = self.x
            if x is None:
                self.tail_from = self.tail_from or line.seq
                return
            if x.seq == line.seq:
                self._entry(x, line)
                self._next()
                return
            if x.seq > line.seq:
                self.st.deleted[line.seq] = self._add(
                    line.seq, "entry_deleted", f"entry {line.seq} is marked exported in the chain but is "
                                               f"missing from the export (deleted)")
                return
            self._out_of_place(x)
            self._next()

    def _out_of_place(self, x: Item) -> None:
        """An export entry whose seq is below the chain's next exported seq."""
        if x.seq in self.st.deleted:
            index = self.st.deleted.pop(x.seq)
            self.st.problems[index] = Problem(x.seq, "entries_reordered",
                                              f"entry {x.seq} appears after entry {self.last_export_seq} "
                                              f"(entries reordered)")
            self._check_hash(x)
            self.found += 1
        elif x.seq == self.last_export_seq or x.seq <= 0:
            self._add(x.seq, "entry_inserted", f"a second entry claims seq {x.seq} (inserted)")
        elif x.seq < self.last_export_seq:
            self._add(x.seq, "entries_reordered", f"entry {x.seq} appears after entry {self.last_export_seq}")
        else:
            self._add(x.seq, "entry_inserted", f"entry {x.seq} is in the export but the chain says seq "
                                               f"{x.seq} was not exported (inserted)")

    def _check_hash(self, x: Item) -> bool:
        if x.edited:
            self._add(x.seq, "entry_edited", f"entry {x.seq}: {x.edited}")
            return False
        if entry_hash(x.prev_hash, x.body) != x.hash:
            self._add(x.seq, "entry_edited", f"entry {x.seq}: its content does not match its hash (edited)")
            return False
        return True

    def _entry(self, x: Item, line: ChainLine) -> None:
        self.found += 1
        self.last_export_seq = x.seq
        if not self._check_hash(x):
            return
        if x.hash != line.digest:
            self._add(x.seq, "entry_edited", f"entry {x.seq}: its hash is not the chain's hash at seq {x.seq} "
                                             f"(edited and re-hashed)")
        if x.prev_hash != self.prev:
            self._add(x.seq, "chain_broken", f"entry {x.seq}: prev_hash is not the chain's hash at seq {x.seq - 1}")

    def _checkpoint(self, line: ChainLine) -> None:
        cp = line.checkpoint
        assert cp is not None
        self.checkpoints += 1
        batch = self.bad_since_good or self.good_cp + 1
        if cp.seq != self.chain_seq:
            self._add(self.chain_seq, "chain_malformed", f"checkpoint for seq {cp.seq} placed after seq {self.chain_seq}")
        elif not checkpoint_ok(cp.to_dict(), self.key):
            self._add(batch, "checkpoint_signature", f"the checkpoint at seq {cp.seq} has an invalid signature: "
                                                     f"entries from seq {batch} are not authenticated")
        elif cp.head_hash != self.prev:
            self._add(batch, "chain_recomputed", f"the signed checkpoint at seq {cp.seq} does not match the chain "
                                                 f"there: entries from seq {batch} were changed and the chain "
                                                 f"recomputed without the private key")
        else:
            self.good_cp, self.bad_since_good = cp.seq, None

    def finish(self, m: Mapping[str, Any], head_seq: int, head_hash: str, signed_head: str | None) -> None:
        if self.tail_from is not None:
            self._add(self.tail_from, "tail_cut", f"the export ends at seq {self.last_export_seq}; exported "
                                                  f"entries from seq {self.tail_from} are missing (tail cut)")
        while self.x is not None:
            x = self.x
            self._add(x.seq, "entry_inserted", f"entry {x.seq} follows the last exported entry (inserted)")
            self._next()
        if self.chain_seq < head_seq:
            self._add(self.chain_seq + 1, "tail_cut", f"the chain file ends at seq {self.chain_seq} before the "
                                                      f"signed head seq {head_seq} (tail cut)")
        elif self.chain_seq > head_seq or self.prev != head_hash:
            self._add(head_seq, "head_mismatch", f"the chain file ends at seq {self.chain_seq}, not at the "
                                                 f"manifest's head seq {head_seq} with its hash")
        if signed_head is not None and self.chain_seq == head_seq and self.prev != signed_head:
            batch = self.bad_since_good or self.good_cp + 1
            self._add(batch, "chain_recomputed", f"the chain's hash at the head differs from the signed head "
                                                 f"checkpoint: entries from seq {batch} were changed")
        found = {"entries": self.found, "first_seq": self.first_marked, "last_seq": self.last_marked}
        wrong = [f"{k} {m.get(k)!r} (found {v!r})" for k, v in found.items() if m.get(k) != v]
        if self.marked != self.found:
            wrong.append(f"{self.marked} entries marked exported in the chain")
        if wrong:
            self._add(None, "manifest_mismatch", "the manifest says " + ", ".join(wrong))


