"""What the verifier tells people, and the edge cases it must survive (found by mutation testing).

An auditor reads the messages, not just the codes: a gap names the seqs that are missing, a
truncated tail says how many checkpoints lie past the end, and a deleted checkpointed entry is
called missing rather than changed. Odd input (a body that is not text, a problem without a seq
after another problem, the last allowed problem found at the head row) is reported, never raised.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from crmgate.trail import TrailStore, canonical_json, verify_entries, verify_store
from crmgate.trail.records import CONTENT_FIELDS
from crmgate.trail.verify import MAX_PROBLEMS

from .trailkit import entry, fill, sql

# fill(): entries 1..12, checkpoints at 3, 6, 9, 12


@pytest.fixture
def chain(make_store) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    store: TrailStore = make_store()
    fill(store)
    data = json.loads(json.dumps({"e": [e.to_dict() for e in store.iter_entries()],
                                  "c": [c.to_dict() for c in store.checkpoints()]}))
    return data["e"], data["c"]


def messages(entries, checkpoints, key) -> list[tuple[int | None, str, str]]:
    return [(p.seq, p.code, p.message) for p in verify_entries(entries, checkpoints, key).problems]


def test_one_missing_seq_is_named_alone(chain, signer):
    """Entry 5 deleted: the gap message names seq 5 (not a range, not 4 or 6)."""
    entries, cps = chain
    del entries[4]
    [gap, *_] = messages(entries, cps, signer.public_key())
    assert gap == (5, "sequence_gap", "seq 5 missing before seq 6 (deleted entries)")


def test_several_missing_seqs_are_named_as_a_range(chain, signer):
    """Entries 4 and 5 deleted: the message names the range 4..5."""
    entries, cps = chain
    del entries[3:5]
    [gap, *_] = messages(entries, cps, signer.public_key())
    assert gap == (4, "sequence_gap", "seq 4..5 missing before seq 6 (deleted entries)")


def test_deleted_checkpointed_entry_is_called_missing(chain, signer):
    """Entry 6 (which the checkpoint at 6 signs) deleted: that checkpoint signs a missing entry; it is
    not compared with entry 7's hash."""
    entries, cps = chain
    del entries[5]
    found = messages(entries, cps, signer.public_key())
    assert (6, "checkpoint_mismatch", "checkpoint at seq 6 signs an entry that is missing") in found


def test_truncated_tail_counts_the_checkpoints_past_the_end(chain, signer):
    """Entries 7..12 gone, checkpoints at 9 and 12 kept: one past-end problem naming the first
    checkpoint and 'one more'."""
    entries, cps = chain
    del entries[6:]
    found = messages(entries, cps, signer.public_key())
    assert found == [(7, "checkpoint_past_end",
                      "checkpoint at seq 9 (and 1 more) lies past the last entry 6: entries from seq 7 were "
                      "deleted (tail truncated)")]


def test_a_body_that_is_not_text_is_malformed_not_a_crash(chain, signer):
    """A stored body that is a number is a malformed entry at its seq."""
    entries, cps = chain
    entries[2]["body"] = 12345
    report = verify_entries(entries, cps, signer.public_key())
    assert (3, "malformed_entry") in [(p.seq, p.code) for p in report.problems]


def test_a_problem_without_seq_after_another_problem(chain, signer):
    """An edited entry 5 and then an entry with no seq at all: both reported, in order, no crash."""
    entries, cps = chain
    entries[4]["data"] = {"forged": True}
    entries[6]["seq"] = None
    report = verify_entries(entries, cps, signer.public_key())
    assert [(p.seq, p.code) for p in report.problems][:2] == [(5, "hash_mismatch"), (None, "malformed_entry")]
    assert report.first_bad_seq == 5


def test_the_twentieth_problem_at_the_head_row_stops_early(make_store, signer):
    """19 edited bodies and a wrong head row: the head problem is the 20th (the documented limit),
    verification stops early and returns a report (it does not raise)."""
    store = make_store()
    store.append([entry(n) for n in range(19)])
    sql(store, "UPDATE trail_entries SET body = REPLACE(body, 'Head of Ops', 'CEO')")
    sql(store, "UPDATE trail_head SET hash = :h WHERE id = 1", h="f" * 64)
    report = verify_store(store, signer.public_key())
    assert MAX_PROBLEMS == 20 and len(report.problems) == 20 and report.stopped_early
    assert [p.code for p in report.problems] == ["hash_mismatch"] * 19 + ["head_mismatch"]
    assert report.problems[-1].seq == 19  # the head's seq


def test_a_head_row_with_another_hash_names_the_head_seq(make_store, signer):
    """Only the head row's hash rewritten: one head_mismatch naming seq 12, the head's seq."""
    store = make_store()
    fill(store)
    sql(store, "UPDATE trail_head SET hash = :h WHERE id = 1", h="f" * 64)
    report = verify_store(store, signer.public_key())
    assert [(p.seq, p.code, p.message) for p in report.problems] == [
        (12, "head_mismatch", "the head row's hash differs from entry 12's hash")]


def test_summary_names_the_first_problem(chain, signer):
    """The one-line summary a CLI prints carries the first problem's code and message."""
    entries, cps = chain
    entries[4]["data"] = {"forged": True}
    summary = verify_entries(entries, cps, signer.public_key()).summary()
    assert summary == ("trail INVALID: first bad seq 5, 1 problem(s); hash_mismatch: entry 5: stored hash "
                       "does not match its content (entry edited)")


def test_a_duplicated_entry_is_out_of_order_only(chain, signer):
    """Entry 5 stored twice: sequence_order at 5, and nothing else (the copy is not a broken link)."""
    entries, cps = chain
    entries.insert(5, json.loads(json.dumps(entries[4])))
    assert [(p.seq, p.code) for p in verify_entries(entries, cps, signer.public_key()).problems] == [
        (5, "sequence_order")]


@pytest.mark.parametrize("field,value", [("signature", None), ("ts", "\ud800"), ("ts", b"bytes")])
def test_an_unreadable_checkpoint_is_a_bad_signature(chain, signer, field, value):
    """The checkpoint at 6 without a signature, or with a ts no canonical form accepts: bad_signature
    naming the first seq it covers (4), reported rather than raised."""
    entries, cps = chain
    if value is None:
        del cps[1][field]
    else:
        cps[1][field] = value
    assert [(p.seq, p.code) for p in verify_entries(entries, cps, signer.public_key()).problems] == [
        (4, "bad_signature")]


def test_head_row_ahead_of_the_entries_says_both_seqs(make_store, signer):
    """Tail and its checkpoints deleted, head row kept: the message gives the head's seq and the last one."""
    store = make_store()
    fill(store)
    sql(store, "DELETE FROM trail_entries WHERE seq > 9")
    sql(store, "DELETE FROM trail_checkpoints WHERE seq > 9")
    report = verify_store(store, signer.public_key())
    assert [(p.seq, p.code, p.message) for p in report.problems] == [
        (10, "head_mismatch", "the head row says seq 12 but the last entry is seq 9")]


def test_summary_marks_a_report_that_stopped_early(make_store, signer):
    """A report cut at the limit says '20+ problem(s)'; a complete one says the plain count."""
    store = make_store()
    store.append([entry(n) for n in range(25)])
    sql(store, "UPDATE trail_entries SET body = REPLACE(body, 'Head of Ops', 'CEO')")
    report = verify_store(store, signer.public_key())
    assert report.stopped_early and "first bad seq 1, 20+ problem(s); hash_mismatch" in report.summary()


def test_a_body_claiming_seq_zero_names_the_row(chain, signer):
    """A stored body that says seq 0 at row 5: the order problem names 5, never the impossible 0."""
    entries, cps = chain
    body = json.loads(entries[4]["body"]) if entries[4].get("body") else {
        k: entries[4][k] for k in CONTENT_FIELDS}
    entries[4]["body"] = canonical_json({**body, "seq": 0})
    found = [(p.seq, p.code) for p in verify_entries(entries, cps, signer.public_key()).problems]
    assert (5, "sequence_order") in found and all(seq != 0 for seq, _ in found)


def with_body(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry as an export carries it: its stored canonical body next to the columns."""
    return {**entry, "body": canonical_json({k: entry[k] for k in CONTENT_FIELDS})}


def test_an_entry_without_its_hash_is_malformed(chain, signer):
    """Entry 5 lost its hash: malformed at 5, then 6 no longer links (5 never counted)."""
    entries, cps = chain
    del entries[4]["hash"]
    assert messages(entries, cps, signer.public_key())[0] == (5, "malformed_entry", "entry 5 lacks prev_hash or hash")


def test_data_column_that_differs_from_the_body_is_named(chain, signer):
    """The body is intact but the data column next to it was changed: column_mismatch naming data."""
    entries, cps = chain
    entries[4] = with_body(entries[4])
    entries[4]["data"] = {"forged": True}
    assert messages(entries, cps, signer.public_key()) == [
        (5, "column_mismatch", "entry 5: data disagree(s) with the hashed body")]


@pytest.mark.parametrize("bad", [float("nan"), object()], ids=["nan", "object"])
def test_data_column_with_no_canonical_form_is_a_mismatch(chain, signer, bad):
    """A data column that canonical JSON refuses (ValueError or TypeError) disagrees with the body."""
    entries, cps = chain
    entries[4] = with_body(entries[4])
    entries[4]["data"] = {"x": bad}
    assert [(p.seq, p.code) for p in verify_entries(entries, cps, signer.public_key()).problems] == [
        (5, "column_mismatch")]


def test_unsigned_tail_names_its_range(chain, signer):
    """The last checkpoint dropped: entries 10..12 are named as not covered."""
    entries, cps = chain
    assert messages(entries, cps[:-1], signer.public_key()) == [
        (10, "unsigned_tail", "entries 10..12 are not covered by any signed checkpoint")]


@pytest.mark.parametrize("seq", [True, "5"], ids=["bool", "text"])
def test_a_seq_that_is_not_an_integer_is_malformed(chain, signer, seq):
    """seq True (a bool, though Python counts it as an int) or "5": malformed, not an entry."""
    entries, cps = chain
    entries[4]["seq"] = seq
    report = verify_entries(entries, cps, signer.public_key())
    assert (None, "malformed_entry") in [(p.seq, p.code) for p in report.problems] and report.entries == 11


@pytest.mark.parametrize("change", [{"body": "not json"}, {"data": {"x": float("nan")}}, {"data": {"x": object()}}],
                         ids=["body-not-json", "data-nan", "data-object"])
def test_an_entry_whose_body_cannot_be_read_is_malformed(chain, signer, change):
    """A stored body that is not JSON, or content with no canonical form: malformed at that seq."""
    entries, cps = chain
    entries[4].update(change)
    assert messages(entries, cps, signer.public_key())[0] == (
        5, "malformed_entry", "entry 5 has a body that cannot be read")


@pytest.mark.parametrize("claimed,named", [(1, 1), ("x", 5)], ids=["seq-1", "text"])
def test_a_body_claiming_another_seq_names_the_smaller(chain, signer, claimed, named):
    """Row 5's body says seq 1: the order problem names 1; a body seq that is not a number names 5."""
    entries, cps = chain
    entries[4] = with_body({**entries[4], "seq": claimed})
    entries[4]["seq"] = 5
    assert (named, "sequence_order") in [(p.seq, p.code) for p in
                                         verify_entries(entries, cps, signer.public_key()).problems]


def test_checkpoints_past_the_end_are_counted(chain, signer):
    """Entries 7..12 gone: all four checkpoints are still counted in the report."""
    entries, cps = chain
    assert verify_entries(entries[:6], cps, signer.public_key()).checkpoints == 4


def test_a_checkpoint_given_twice_is_out_of_order(chain, signer):
    """The checkpoint at 6 appears twice: the copy is a checkpoint_order problem naming 6."""
    entries, cps = chain
    cps.insert(2, dict(cps[1]))
    assert [(p.seq, p.code) for p in verify_entries(entries, cps, signer.public_key()).problems] == [
        (6, "checkpoint_order")]


def test_reports_and_problems_are_frozen(chain, signer):
    """A report, and a problem in it, cannot be rewritten after the fact."""
    entries, cps = chain
    entries[4]["data"] = {"forged": True}
    report = verify_entries(entries, cps, signer.public_key())
    [problem] = report.problems
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.code = "fine"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.ok = True  # type: ignore[misc]
