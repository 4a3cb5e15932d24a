"""CSV format 3: each entry's rows are exactly what the csv module writes for its cells, however
odd the values (the exporter and the verifier join most rows by hand). Older formats still
verifying: tests/audit/test_export.py."""
from __future__ import annotations

import csv
import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmgate.audit.formats import CSV_COLUMNS, cell, csv_entry, csv_entry_rows, csv_text
from tests.audit.conftest import need_fork

# characters that matter to CSV and to spreadsheets, and a few that do not
_text = st.text(alphabet=st.sampled_from(list(',"\r\n\t=+-@\' a1é\x00')), max_size=6)
_scalar = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | _text
_value = _scalar | st.lists(_scalar, max_size=2) | st.dictionaries(_text, _scalar, max_size=2)
_change = st.fixed_dictionaries({"field": _value, "before": _value, "after": _value}) | st.dictionaries(
    st.sampled_from(["field", "before", "after", "x"]), _value, max_size=3) | _scalar
_kind = st.sampled_from(["write.intent", "rollback.intent", "proposal.decided", "write.result", "rollback.result",
                         "approval.approved", "feedback.recorded"]) | _value
_data = st.fixed_dictionaries({}, optional={
    "status": _value, "changes": st.lists(_change, max_size=3) | _value,
    "decision": st.fixed_dictionaries({}, optional={"changes": st.lists(_change, max_size=3) | _value}) | _value})
_content = st.fixed_dictionaries(
    {"seq": st.integers(-5, 10**9) | _value, "kind": _kind, "data": _data | _value},
    optional={name: _value for name in ("ts", "actor", "object", "record_id", "proposal_id", "change_id")})


# the usual shape (string ids, field changes with all three keys), where at most a cell or two is odd
_plain = st.text(alphabet=st.sampled_from(list("ab1:_ é'")), max_size=5)
_odd = st.builds(lambda a, c, b: a + c + b, _plain, st.sampled_from(list(',"\r\n\t=+-@\x00')), _plain)
_cellv = st.one_of(*[_plain] * 30, _odd, st.integers(-3, 3), st.none(), st.booleans(), st.floats())
_usual = st.fixed_dictionaries({
    "seq": st.integers(-2, 10**6), "kind": st.sampled_from(["write.intent", "proposal.decided", "write.result"]),
    **{name: st.one_of(*[_plain] * 30, _odd) for name in ("ts", "actor", "object", "record_id", "proposal_id",
                                                         "change_id")},
    "data": st.fixed_dictionaries({"status": st.one_of(*[_plain] * 10, _odd, st.none()),
                                   "changes": st.lists(st.fixed_dictionaries(
                                       {"field": _cellv, "before": _cellv, "after": _cellv}), max_size=3)})})
_digests = st.sampled_from(["a" * 64] * 20 + ["=x", "a,b", 'q"', "\r\n", ""])


def _intent(**over):
    base = {"seq": 7, "ts": "2026-11-22T09:00:00.000000Z", "kind": "write.intent", "actor": "ai:a",
            "object": "Lead", "record_id": "00Q1", "proposal_id": "prp_1", "change_id": "chg_1",
            "data": {"changes": [{"field": "Company", "before": "Acme", "after": "Acme 2"}]}}
    return base | over


@pytest.mark.parametrize("content", [
    _intent(seq=-3), _intent(actor="a\nb"), _intent(actor="a\rb"), _intent(actor='say "hi"'), _intent(object="a,b"),
    _intent(record_id="=1"), _intent(record_id="\tx"), _intent(record_id="\rx"),
    _intent(data={"changes": [{"field": "F", "before": True, "after": None}]}),
    _intent(data={"changes": [{"field": "F", "before": 1.5, "after": [1]}]}),
    _intent(kind="proposal.decided", data={"status": "queued", "decision": {"changes": [
        {"field": "F", "before": "x", "after": "y"}]}}),
    _intent(kind="write.result", data={"status": "ok"}), _intent(kind="write.result", data={"status": None}),
    _intent(data={"changes": []}), _intent(data={"changes": ["F", {"field": "G", "before": 1, "after": 2}]}),
    _intent(seq=None), _intent(seq=True), _intent(seq="5"),
    # no cell quoted, so the hand-joined path may take them: each non-string written as the csv module does
    _intent(data={"changes": [{"field": None, "before": "a", "after": "b"}]}),
    _intent(data={"changes": [{"field": None, "before": 1, "after": None}]}),
    _intent(data={"changes": [{"field": 1, "before": True, "after": 2.5}]}),
], ids=lambda c: repr(c)[:60])
def test_each_case_the_fast_path_must_refuse_or_get_right(content):
    """Each case one check of the hand-joined path exists for: the text is the csv module's."""
    for digest in ("a" * 64, "=x", "a,b"):
        rows = csv_entry_rows(content, digest)
        assert csv_entry(content, digest) == (csv_text(rows), len(rows))


@settings(max_examples=300)
@given(content=_usual, digest=_digests)
def test_a_usual_entrys_text_is_what_the_csv_module_writes(content, digest):
    """As below, for entries of the usual shape, where the text is mostly joined by hand."""
    rows = csv_entry_rows(content, digest)
    assert csv_entry(content, digest) == (csv_text(rows), len(rows))


@given(content=_content, digest=_digests)
def test_an_entrys_text_is_what_the_csv_module_writes(content, digest):
    """For any content, the text is the csv module's rendering of the entry's cells (quoted where a
    cell holds a comma, a quote or a line break; a ``'`` before a formula start), with as many rows
    as it says, and it reads back as those cells."""
    rows = csv_entry_rows(content, digest)
    text, n = csv_entry(content, digest)
    assert text == csv_text(rows) and n == len(rows) >= 1
    assert list(csv.reader(io.StringIO(text, newline=""))) == rows
    assert all(len(row) == len(CSV_COLUMNS) and row[-1] == cell(digest) for row in rows)


def test_usual_entries_take_the_joined_path_and_odd_ones_are_quoted():
    """A usual intent is joined by hand (no quoting needed); a formula-like value gets its ``'``, a
    comma or quote gets quoted, exactly as the csv module does."""
    content = {"seq": 7, "ts": "2026-11-22T09:00:00.000000Z", "kind": "write.intent", "actor": "ai:a",
               "object": "Lead", "record_id": "00Q1", "proposal_id": "prp_1", "change_id": "chg_1",
               "data": {"changes": [{"field": "Company", "before": "Acme", "after": "Acme, Inc."},
                                    {"field": "NumberOfEmployees", "before": None, "after": -5}]}}
    text, n = csv_entry(content, "h" * 64)
    assert n == 2 and text == (f'7,2026-11-22T09:00:00.000000Z,write.intent,ai:a,Lead,00Q1,prp_1,chg_1,unresolved,'
                               f'Company,Acme,"Acme, Inc.",{"h" * 64}\r\n'
                               f"7,2026-11-22T09:00:00.000000Z,write.intent,ai:a,Lead,00Q1,prp_1,chg_1,unresolved,"
                               f"NumberOfEmployees,,'-5,{'h' * 64}\r\n")


def test_a_csv_rendered_in_a_worker_process_is_the_same_bytes(store, clock, keys, tmp_path):
    """Rendered in a worker process (several batches in flight) or in the exporter's own process,
    a CSV export is the same bytes, its rows in seq order; both verify."""
    from crmgate.audit.csvworker import IN_FLIGHT
    from crmgate.audit.export import BATCH, export_trail
    from crmgate.audit.verify_export import verify_export
    from tests.audit.conftest import mixed_entry

    n = BATCH * (IN_FLIGHT + 1) + 7
    for start in range(0, n, 500):
        store.append([mixed_entry(i) for i in range(start, min(n, start + 500))])
    made = {}
    for parallel in (True, False):
        out = tmp_path / f"{parallel}" / "x.csv"
        out.parent.mkdir()
        manifest = export_trail(store, out, fmt="csv", signer=keys[0], clock=clock, parallel=parallel)
        assert verify_export(out, keys[1]).ok and manifest["rows"] == 2 * n
        made[parallel] = [out.read_bytes(), out.with_name("x.csv.entries.jsonl").read_bytes()]
    assert made[True] == made[False]
    seqs = [int(line.split(b",", 1)[0]) for line in made[True][0].splitlines()[1:]]
    assert seqs == sorted(seqs) and seqs[-1] == n


def test_a_value_written_as_json_keeps_its_characters():
    """A cell holding JSON (a dict or list value) writes non-ASCII characters as they are, like a
    string cell, not as \\u escapes; and in either path of csv_entry."""
    assert cell({"b": "é", "a": [1]}) == '{"a": [1], "b": "é"}'
    change = {"field": "F", "before": ["é"], "after": {"x": "ü"}}
    text, _ = csv_entry(_intent(data={"changes": [change]}), "a" * 64)
    assert '"[""é""]","{""x"": ""ü""}"' in text


_forks: list[int] = []
os.register_at_fork(after_in_parent=lambda: _forks.append(1))


@pytest.mark.parametrize("parallel,forks", [(True, 1), (False, 0)])
def test_a_csv_export_forks_its_worker_only_when_asked(trail, keys, tmp_path, parallel, forks):
    """The worker is a fork of the exporter (counted at the fork), only with ``parallel``, in a
    process with one thread: the bytes are the same either way (above), so only this tells."""
    from crmgate.audit.export import export_trail

    need_fork()
    before = len(_forks)
    export_trail(trail, tmp_path / "x.csv", fmt="csv", signer=keys[0], parallel=parallel)
    assert len(_forks) - before == forks
