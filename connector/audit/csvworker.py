"""A CSV export's rows rendered in a second process while the exporter streams the trail.

The exporter's own pass (reading, checking every hash, writing the entries and the chain file)
and the CSV's rendering (parsing each body, building its rows) each cost about as much; on a
machine with a free core, :class:`CsvRenderer` runs the rendering in one worker process
(``concurrent.futures`` with the ``spawn`` start method: safe inside a server with threads) and
hands the text back in order. At most :data:`IN_FLIGHT` batches of 1,000 entries are out at a
time, so memory stays flat. Without a worker (small exports, or ``parallel=False``) the same
function renders in the exporter's process: the output is the same bytes either way.
"""
from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from crmgate.audit.formats import csv_entry, loads

#: batches out at once (one rendering, one or two waiting): bounds the memory a slow worker takes
IN_FLIGHT = 3


class NotRendered(Exception):
    """An entry line the worker could not read (a body that is not a JSON object): the exporter
    starts over under the full trail verifier, which names it."""


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


class CsvRenderer:
    """Renders batches of entry lines to CSV text in submission order, in a worker when ``parallel``."""

    def __init__(self, parallel: bool) -> None:
        self._pool = (ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
                      if parallel else None)
        self._out: deque[Future[tuple[str, int]] | tuple[str, int]] = deque()

    def submit(self, lines: str) -> Iterator[tuple[str, int]]:
        """Queue one batch; yield the results that are due (the oldest, once too many are out)."""
        self._out.append(render_lines(lines) if self._pool is None else self._pool.submit(render_lines, lines))
        while len(self._out) > (IN_FLIGHT if self._pool is not None else 0):
            yield self._take()

    def drain(self) -> Iterator[tuple[str, int]]:
        """Yield every result still out, in order."""
        while self._out:
            yield self._take()

    def _take(self) -> tuple[str, int]:
        done = self._out.popleft()
        return done.result() if isinstance(done, Future) else done

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
