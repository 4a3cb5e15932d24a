"""A CSV export's file written by a second process while the exporter streams the trail.

The exporter's own pass (reading, checking every hash, writing the entries and the chain file)
and the CSV (parsing each body, building its rows, hashing and writing them) each cost about as
much; on a machine with a free core, :class:`CsvRenderer` hands batches of entry lines to one
worker process (``concurrent.futures``), which renders them and writes the CSV file itself, so
only the lines cross between the processes. One worker takes the batches in order; at most
:data:`IN_FLIGHT` are out at a time, so memory stays flat. Without a worker (small exports, a
process with threads, or ``parallel=False``) the same :class:`CsvFile` runs in the exporter's
process: the file is the same bytes either way.

The worker is started by ``fork``: a spawned one would import the caller's main module again,
which a script without a ``__main__`` guard does not survive. Forking is safe only while the
process has one thread, so a process with more (a server) writes the CSV itself.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import threading
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from crmgate.audit.formats import csv_entry, loads

#: batches out at once (one rendering, the others waiting): bounds the memory a slow worker takes
IN_FLIGHT = 3


class NotRendered(Exception):
    """An entry line that could not be read (a body that is not a JSON object): the exporter starts
    over under the full trail verifier, which names it."""


def render_lines(text: str) -> tuple[str, int]:
    """Return the CSV text and rows of the entries in ``text``: lines of the entries file (each an
    entry's hashed content plus ``prev_hash`` and ``hash``), as the exporter wrote them."""
    out: list[str] = []
    rows = 0
    for line in text.splitlines():
        try:
            content = loads(line)
            digest = content["hash"]
        except (ValueError, TypeError, KeyError):
            raise NotRendered(line[:80]) from None
        piece, n = csv_entry(content, digest)
        out.append(piece)
        rows += n
    return "".join(out), rows


class CsvFile:
    """The CSV file being written: hashed and counted as it is written."""

    def __init__(self, path: str, header: str) -> None:
        self.fh = open(path, "wb")  # noqa: SIM115 - closed by close(), possibly in another call
        self.sha = hashlib.sha256()
        self.bytes = self.rows = 0
        self._write(header)

    def _write(self, text: str) -> None:
        data = text.encode("utf-8")
        self.sha.update(data)
        self.bytes += len(data)
        self.fh.write(data)

    def add(self, lines: str) -> None:
        text, rows = render_lines(lines)
        self._write(text)
        self.rows += rows

    def close(self) -> tuple[str, int, int]:
        """Close the file; return its SHA-256, its bytes and its rows."""
        self.fh.close()
        return self.sha.hexdigest(), self.bytes, self.rows


_file: CsvFile | None = None  # the worker process's CSV file


def _open(path: str, header: str) -> None:
    global _file
    _file = CsvFile(path, header)


def _add(lines: str) -> None:
    assert _file is not None
    _file.add(lines)


def _close() -> tuple[str, int, int]:
    assert _file is not None
    return _file.close()


class CsvRenderer:
    """Writes the CSV at ``path`` from batches of entry lines, in a worker process when ``parallel``."""

    def __init__(self, path: Path, header: str, parallel: bool) -> None:
        fork = parallel and threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"), initializer=_open,
                                         initargs=(str(path), header)) if fork else None
        self._file = None if fork else CsvFile(str(path), header)
        self._out: deque[Future[None]] = deque()

    def add(self, lines: str) -> None:
        """Render and write one batch (in the worker: wait for the oldest once too many are out)."""
        if self._file is not None:
            self._file.add(lines)
            return
        assert self._pool is not None
        self._out.append(self._pool.submit(_add, lines))
        while len(self._out) > IN_FLIGHT:
            self._out.popleft().result()

    def finish(self) -> tuple[str, int, int]:
        """Wait for every batch, close the file; return its SHA-256, bytes and rows."""
        if self._file is not None:
            return self._file.close()
        assert self._pool is not None
        while self._out:
            self._out.popleft().result()
        return self._pool.submit(_close).result()

    def close(self) -> None:
        """Stop the worker (also after a failure); a file left open is closed."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        elif not self._file.fh.closed:  # type: ignore[union-attr]
            self._file.fh.close()  # type: ignore[union-attr]
