"""A CSV's rows compared with its hashed entries in a worker process give the verdict the verifier's
own process gives, batch boundaries and all (the export here has 15 entries; batches of 2 and 4)."""
from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import pytest

from crmgate.audit.csvcheck import EDITED, RowChecker, compared
from crmgate.audit.entrylines import jsonl_bodies, jsonl_items
from crmgate.audit.export import export_trail
from crmgate.audit.formats import ENTRIES_SUFFIX, csv_entry
from crmgate.audit.verify_export import verify_export
from tests.audit.conftest import fill_mixed, need_fork


def _entries(path: Path) -> Path:
    return path.with_name(path.name + ENTRIES_SUFFIX)


def _check(path: Path, batch: int, parallel: bool) -> tuple[list[tuple[int, str | None]], bool]:
    """Every entry's (seq, edited) after the row check, and whether rows follow the last entry's."""
    if parallel:
        need_fork()
    with open(path, encoding="utf-8", newline="") as fh:
        fh.readline()
        checker = RowChecker(path, _entries(path), fh, csv_entry, parallel, batch=batch)
        try:
            assert checker.in_worker == parallel
            marked = [(x.seq, x.edited) for x in compared(jsonl_items(_entries(path)), checker)]
            return marked, checker.extra()
        finally:
            checker.close()


def _rows(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8").split("\r\n")


def _write_rows(path: Path, rows: list[str]) -> None:
    path.write_bytes("\r\n".join(rows).encode("utf-8"))


def _edit_row_of(seq: int):
    def edit(path: Path) -> None:
        rows = _rows(path)
        at = next(i for i, r in enumerate(rows) if r.startswith(f"{seq},"))
        rows[at] = rows[at].replace("Acme", "Acne")
        _write_rows(path, rows)
    return edit


def _append_row(path: Path) -> None:
    _write_rows(path, [*_rows(path)[:-1], _rows(path)[-2], ""])


def _drop_last_row(path: Path) -> None:
    _write_rows(path, [*_rows(path)[:-2], ""])


def _junk_entry_line(n: int):
    def edit(path: Path) -> None:
        lines = _entries(path).read_text(encoding="utf-8").splitlines(keepends=True)
        lines[n - 1] = "not json\n"
        _entries(path).write_text("".join(lines), encoding="utf-8")
    return edit


def _both(*edits):
    def edit(path: Path) -> None:
        for e in edits:
            e(path)
    return edit


@pytest.mark.parametrize("tamper,edited,extra", [
    (None, None, False),
    (_edit_row_of(1), 1, False),
    (_edit_row_of(4), 4, False),
    (_edit_row_of(15), 15, False),  # alone in the last batch
    (_append_row, None, True),
    (_drop_last_row, 15, False),
    (_junk_entry_line(4), None, False),  # unreadable: nothing compared after it
    (_both(_junk_entry_line(4), _edit_row_of(9)), None, False),
    (_both(_edit_row_of(3), _edit_row_of(9), _append_row), 3, False),  # only the first difference
], ids=["untouched", "first", "fourth", "last", "appended", "dropped", "junk", "junk-then-edit", "two-edits"])
@pytest.mark.parametrize("batch", [2, 4])
def test_the_worker_marks_what_the_verifier_s_process_marks(export, tamper, edited, extra, batch):
    need_fork()
    path = export("csv")
    if tamper:
        tamper(path)
    inline, worker = _check(path, batch, parallel=False), _check(path, batch, parallel=True)
    assert worker == inline
    marked, more = worker
    assert [seq for seq, why in marked if why] == ([edited] if edited else [])
    assert all(why == EDITED for _, why in marked if why) and more is extra
    assert len(marked) == 15


def _big(path: Path, tmp_path: Path, n: int) -> Path:
    """A CSV (and entries file) of entry 1 of the export at ``path`` repeated ``n`` times: its rows
    match, although the chain would not (the row check does not read it)."""
    entry = _entries(path).read_text(encoding="utf-8").splitlines(keepends=True)[0]
    rows = [r + "\r\n" for r in _rows(path)[1:] if r.startswith("1,")]
    big = tmp_path / "big.csv"
    _entries(big).write_text(entry * n, encoding="utf-8")
    big.write_bytes((_rows(path)[0] + "\r\n" + "".join(rows) * n).encode("utf-8"))
    return big


def _not_utf8_near_the_end(path: Path) -> None:
    """One byte that is not UTF-8 in the last row: past the header's first read (8 KiB or more away)."""
    data = path.read_bytes()
    assert len(data) > 3 * 8192
    path.write_bytes(data[:-40] + b"\xff" + data[-39:])


@pytest.mark.parametrize("parallel", [False, True])
def test_a_csv_row_that_is_not_utf8_raises_as_in_the_verifier_s_process(export, tmp_path, parallel):
    """The worker hands back what it raises; the verifier names it (file_not_text, below)."""
    big = _big(export("csv"), tmp_path, 200)
    _not_utf8_near_the_end(big)
    with pytest.raises(UnicodeDecodeError):
        _check(big, 2, parallel)


def test_a_csv_not_utf8_past_its_header_is_a_finding(store, keys, clock, tmp_path, verify):
    fill_mixed(store, clock, batches=20, size=10)
    path = tmp_path / "x.csv"
    export_trail(store, path, fmt="csv", signer=keys[0], clock=clock)
    _not_utf8_near_the_end(path)
    report = verify(path, keys[1])
    assert "file_not_text" in {p.code for p in report.problems} and not report.ok


def test_a_worker_that_dies_is_an_error_not_a_verdict(export, tmp_path):
    """A worker killed before it answered everything: the verifier raises rather than pass the rows."""
    need_fork()
    big = _big(export("csv"), tmp_path, 20_000)
    with open(big, encoding="utf-8", newline="") as fh:
        fh.readline()
        checker = RowChecker(big, _entries(big), fh, csv_entry, True, batch=1)
        try:
            os.kill(checker._proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
            with pytest.raises(RuntimeError, match="stopped without an answer"):
                for _ in range(20_002):
                    checker.check([])
        finally:
            checker.close()


_forks: list[int] = []
os.register_at_fork(after_in_parent=lambda: _forks.append(1))


@pytest.mark.parametrize("entries,parallel,forks", [
    (100_000, None, 1), (99_999, None, 0), ("100000", None, 0), (100_000, False, 0), (3, True, 1)])
def test_a_worker_is_forked_from_100k_entries_by_default(export, keys, entries, parallel, forks):
    """By default the manifest's entry count picks the worker (a count that is not a number picks
    none); ``parallel`` overrides it. Forks are counted at the fork itself."""
    need_fork()
    assert (os.cpu_count() or 1) > 1
    path = export("csv")
    manifest = path.with_name(path.name + ".manifest.json")
    manifest.write_text(json.dumps(json.loads(manifest.read_text()) | {"entries": entries}))
    before = len(_forks)
    verify_export(path, keys[1], parallel=parallel)
    assert len(_forks) - before == forks


def test_the_worker_s_reader_gives_each_line_s_body_and_hash_as_the_verifier_reads_them(export, tmp_path):
    """jsonl_bodies (the worker's) and jsonl_items (the walk's) agree on every kind of line: as the
    exporter writes it, parsed (an extra key, a negative seq, a CRLF end), and not an entry at all."""
    good = _entries(export("csv")).read_text(encoding="utf-8").splitlines()
    line = good[2]
    lines = [good[0], line.replace('{"actor"', '{"x":1,"actor"'), "not json", line.replace('"seq":3', '"seq":true'),
             line.replace('"seq":3', '"seq":-3'), "", line.replace('"seq":3', '"seq":"3"'), line[:-10] + "}"]
    path = tmp_path / "lines.jsonl"
    path.write_bytes(("\n".join(lines) + "\r\n" + good[1]).encode("utf-8"))
    items = list(jsonl_items(path))
    assert list(jsonl_bodies(path)) == [None if x.error is not None else (x.body, x.hash) for x in items]
    assert [x.error is None for x in items] == [True, True, False, False, True, False, False, False, True]


def test_closing_stops_a_worker_blocked_on_answers_nobody_reads(export, tmp_path):
    """A verifier that stops early (too many problems) reads no more answers; a worker with more of
    them than the pipe holds blocks on sending, and closing must stop it rather than wait for it."""
    need_fork()
    big = _big(export("csv"), tmp_path, 20_000)
    with open(big, encoding="utf-8", newline="") as fh:
        fh.readline()
        checker = RowChecker(big, _entries(big), fh, csv_entry, True, batch=1)  # 20,000 answers
        closer = threading.Thread(target=checker.close, daemon=True)
        closer.start()
        closer.join(30)
        assert not closer.is_alive()
