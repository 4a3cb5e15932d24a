"""A CSV export's rows compared with its hashed entries, in a worker process for a large export.

The offline verifier (:mod:`crmgate.audit.verify_export`) walks a CSV's entries file against the
chain (reading each line, hashing its body, placing it) and renders each entry's rows again to
compare them with the CSV byte for byte. Both halves cost about as much, so for a large export
:class:`RowChecker` gives the rendering to one worker process, started by ``fork`` (for the
reasons :mod:`crmgate.audit.csvworker` gives). The worker reads the entries file and the CSV
itself, with the verifier's own reader (:mod:`crmgate.audit.entrylines`), so nothing but answers
crosses between the processes: per batch of :data:`BATCH` entries, which entry's rows differ
first. It runs ahead on its own and never waits for the verifier (no requests, no executor
threads contending for the verifier's GIL). Without a worker (small exports, a process with
threads, ``parallel=False``, the older CSV formats) the same :class:`Rows` runs in the verifier's
process on the verifier's entries: the verdict is the same.
"""
from __future__ import annotations

import gc
import multiprocessing
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TextIO

from crmgate.audit.entrylines import Item, jsonl_bodies
from crmgate.audit.formats import csv_entry, loads

#: entries per answer
BATCH = 2000
EDITED = "its CSV rows differ from its hashed entry (a cell was changed)"
Render = Callable[[Mapping[str, Any], str], "tuple[str, int]"]


class Rows:
    """The CSV's rows after its header, compared in order with each entry's rows rendered again.
    After the first difference, or an unreadable entry, nothing more is compared: the rows no
    longer line up (the file's SHA-256 is checked anyway)."""

    def __init__(self, fh: TextIO, render: Render) -> None:
        self.fh, self.render = fh, render
        self.lost = False

    def check(self, entries: Iterable[tuple[str, str] | None]) -> int | None:
        """Compare the rows of the next entries (body and hash; None for an unreadable entry, which
        ends the comparison); return the index of the first whose rows differ from the file (or
        cannot be rendered), else None."""
        read = self.fh.read
        for i, entry in enumerate(entries):
            if self.lost:
                return None
            if entry is None:
                self.lost = True
                continue
            try:
                text = self.render(loads(entry[0]), entry[1])[0]
            except (ValueError, TypeError, AttributeError, RecursionError):
                text = None
            if text is None or read(len(text)) != text:
                self.lost = True
                return i
        return None

    def extra(self) -> bool:
        """True when rows follow the last entry's (asked only once every entry was compared)."""
        return not self.lost and self.fh.read(1) != ""


def _work(path: str, entries: str, batch_size: int, out: Connection) -> None:
    """The worker: one answer per batch of entries, then ``("end", extra)``; stops at the first
    difference (every later answer is None). What it raises (a file that is not UTF-8) is sent as
    ``("raise", error)``, for the verifier to raise where it would have without a worker."""
    gc.disable()  # a short-lived process whose batches make no cycles: refcounting frees them (~7% of its CPU)
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            fh.readline()  # the header, checked by the verifier
            rows, bodies = Rows(fh, csv_entry), jsonl_bodies(Path(entries))
            while not rows.lost:
                batch = list(islice(bodies, batch_size))
                out.send(rows.check(batch))
                if len(batch) < batch_size:
                    break
            out.send(("end", rows.extra()))
    except Exception as e:  # noqa: BLE001 - handed to the verifier, which raises it
        out.send(("raise", e))
    out.close()


class RowChecker:
    """Compares the rows of the CSV at ``path`` (format 3), whose header ``fh`` has just read, with
    the entries of ``entries`` batch by batch: in a worker process when ``parallel`` (and the
    process may fork), else in this one through ``fh`` with ``render``. Batches are asked for in
    order, each of ``batch`` entries but the last."""

    def __init__(self, path: Path, entries: Path, fh: TextIO, render: Render, parallel: bool,
                 batch: int = BATCH) -> None:
        self.batch = batch
        fork = parallel and threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
        self._rows = None if fork else Rows(fh, render)
        self._end: tuple[str, bool] | None = None
        self._proc = None
        if fork:
            ctx = multiprocessing.get_context("fork")
            self._in, out = ctx.Pipe(duplex=False)
            self._proc = ctx.Process(target=_work, args=(str(path), str(entries), batch, out), daemon=True)
            self._proc.start()
            out.close()

    @property
    def in_worker(self) -> bool:
        """True when a worker process compares the rows."""
        return self._proc is not None

    def check(self, batch: list[Item]) -> int | None:
        """The index in ``batch`` (the next entries) of the first whose rows differ, else None."""
        if self._rows is not None:
            return self._rows.check([None if x.error is not None else (x.body, x.hash) for x in batch])
        if self._end is not None:
            return None
        answer = self._answer()
        if type(answer) is tuple:
            self._end = answer
            return None
        return answer  # type: ignore[return-value]

    def extra(self) -> bool:
        """True when the CSV has rows after the last entry's (ask after the last batch)."""
        if self._rows is not None:
            return self._rows.extra()
        if self._end is None:
            self._end = self._answer()
        return self._end[1]

    def _answer(self) -> Any:
        try:
            answer = self._in.recv()
        except EOFError:
            raise RuntimeError("the CSV row checker's worker process stopped without an answer") from None
        if type(answer) is tuple and answer[0] == "raise":
            raise answer[1]
        return answer

    def close(self) -> None:
        """Stop the worker, also when the verifier stopped early."""
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.terminate()
            self._proc.join()
            self._in.close()


def compared(items: Iterator[Item], checker: RowChecker) -> Iterator[Item]:
    """``items`` in order, each whose CSV rows differ marked ``edited`` (asked of ``checker`` by batch)."""
    while True:
        batch = list(islice(items, checker.batch))
        at = checker.check(batch)
        if at is not None:
            batch[at].edited = batch[at].edited or EDITED
        yield from batch
        if len(batch) < checker.batch:
            return
