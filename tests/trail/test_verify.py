"""The verifier, with only the public key, passes a clean trail and names the first bad seq of each tampering."""
from __future__ import annotations

import json

import pytest

from crmgate.trail import (
    TrailSigner,
    TrailStore,
    canonical_json,
    checkpoint_message,
    entry_hash,
    verify_entries,
    verify_store,
)
from crmgate.trail.verify import MAX_PROBLEMS

from .trailkit import fill, recompute_chain_from, rows, sql

# fill(): 4 batches of 3 -> entries 1..12, checkpoints at 3, 6, 9, 12


@pytest.fixture
def trail(make_store) -> TrailStore:
    store = make_store()
    fill(store)
    return store


def codes(report) -> set[str]:
    return {p.code for p in report.problems}


def test_clean_trail_verifies(trail, signer):
    """An untouched trail passes with counts, head and no problems."""
    report = verify_store(trail, signer.public_key())
    assert report.ok and report.problems == () and report.first_bad_seq is None
    assert (report.entries, report.checkpoints, report.head_seq) == (12, 4, 12)
    assert report.head_hash == trail.head()[1]
    assert report.to_dict()["ok"] is True and "OK" in report.summary()


def test_empty_trail_verifies(make_store, signer):
    """A trail with no entries is valid."""
    assert verify_store(make_store(), signer.public_key()).ok


def test_wrong_public_key_fails_every_checkpoint(trail):
    """Verifying with another trail's key rejects the checkpoints from seq 1."""
    report = verify_store(trail, TrailSigner.generate().public_key())
    assert not report.ok and codes(report) == {"bad_signature"} and report.first_bad_seq == 1


def test_body_edited(trail, signer):
    """An UPDATE of one row's body is a hash_mismatch at exactly that seq."""
    sql(trail, "UPDATE trail_entries SET body = REPLACE(body, 'Head of Ops', 'CEO') WHERE seq = 5")
    report = verify_store(trail, signer.public_key())
    assert not report.ok and report.first_bad_seq == 5
    assert [(p.seq, p.code) for p in report.problems] == [(5, "hash_mismatch")]
    assert "first bad seq 5" in report.summary()


def test_indexed_column_edited(trail, signer):
    """Changing an indexed column but not the body is a column_mismatch at that seq."""
    sql(trail, "UPDATE trail_entries SET actor = 'human:mallory' WHERE seq = 7")
    report = verify_store(trail, signer.public_key())
    assert report.first_bad_seq == 7 and [(p.seq, p.code) for p in report.problems] == [(7, "column_mismatch")]
    assert "actor" in report.problems[0].message


def test_row_deleted(trail, signer):
    """Deleting a row is a sequence_gap naming the deleted seq."""
    sql(trail, "DELETE FROM trail_entries WHERE seq = 5")
    report = verify_store(trail, signer.public_key())
    assert report.first_bad_seq == 5 and (5, "sequence_gap") in [(p.seq, p.code) for p in report.problems]


def test_batch_end_deleted(trail, signer):
    """Deleting the row a checkpoint signs is named at that seq, not later."""
    sql(trail, "DELETE FROM trail_entries WHERE seq = 6")
    report = verify_store(trail, signer.public_key())
    assert report.first_bad_seq == 6 and {"sequence_gap", "checkpoint_mismatch"} <= codes(report)


def test_rows_reordered(trail, signer):
    """Swapping two rows' seqs is reported at the smaller one."""
    sql(trail, "UPDATE trail_entries SET seq = -1 WHERE seq = 5")
    sql(trail, "UPDATE trail_entries SET seq = 5 WHERE seq = 8")
    sql(trail, "UPDATE trail_entries SET seq = 8 WHERE seq = -1")
    report = verify_store(trail, signer.public_key())
    assert report.first_bad_seq == 5 and "sequence_order" in codes(report)


def _shift_up_from(store: TrailStore, seq: int) -> None:
    sql(store, "UPDATE trail_entries SET seq = seq + 1000000 WHERE seq >= :s", s=seq)
    sql(store, "UPDATE trail_entries SET seq = seq - 999999 WHERE seq >= 1000000")


def test_row_inserted_with_forged_hash(trail, signer):
    """A row inserted mid-batch by shifting later rows, even with a correctly chained hash, is named at its seq."""
    before = rows(trail)
    _shift_up_from(trail, 5)
    content = json.loads(before[4]["body"]) | {"data": {"forged": True}}
    body = canonical_json(content)
    forged = {k: v for k, v in before[4].items()} | {"body": body, "prev_hash": before[3]["hash"],
                                                     "hash": entry_hash(before[3]["hash"], body)}
    cols = ", ".join(forged)
    sql(trail, f"INSERT INTO trail_entries ({cols}) VALUES ({', '.join(':' + c for c in forged)})", **forged)
    report = verify_store(trail, signer.public_key())
    assert not report.ok and report.first_bad_seq == 5
    assert "sequence_order" in codes(report) and "hash_mismatch" not in codes(report)


def test_chain_recomputed_without_key_checkpoints_left(trail, signer):
    """A correctly recomputed chain is caught by the old checkpoints, named at the start of the covering batch."""
    recompute_chain_from(trail, 5, {"forged": True})
    report = verify_store(trail, signer.public_key())
    assert not report.ok and report.first_bad_seq == 4  # batch 4..6: last good checkpoint is at 3
    assert codes(report) == {"checkpoint_mismatch"}
    assert "recomputed" in report.problems[0].message and "seq 4" in report.problems[0].message


@pytest.mark.parametrize("claim_real_key_id", [False, True])
def test_chain_recomputed_and_resigned_with_other_key(trail, signer, claim_real_key_id):
    """Re-signing the recomputed checkpoints with another key is a bad_signature from the covering batch."""
    recompute_chain_from(trail, 8, {"forged": True})
    mallory = TrailSigner.generate()
    key_id = signer.key_id if claim_real_key_id else mallory.key_id
    head = {r["seq"]: r["hash"] for r in rows(trail)}
    for cp in trail.checkpoints(start=9):
        sig = mallory.sign(checkpoint_message(cp.seq, head[cp.seq], cp.ts, key_id))
        sql(trail, "UPDATE trail_checkpoints SET head_hash = :h, key_id = :k, signature = :s WHERE seq = :q",
            h=head[cp.seq], k=key_id, s=sig, q=cp.seq)
    report = verify_store(trail, signer.public_key())
    assert report.first_bad_seq == 7 and codes(report) == {"bad_signature"}
    assert ("invalid signature" if claim_real_key_id else "unknown key") in report.problems[0].message
    # trusting mallory's key as well makes the forgery pass only when it carries mallory's own key id
    assert verify_store(trail, [signer.public_key(), mallory.public_key()]).ok is (not claim_real_key_id)


@pytest.mark.parametrize(("kept_upto", "first_unsigned"), [(6, 7), (0, 1)])
def test_checkpoints_deleted(trail, signer, kept_upto, first_unsigned):
    """Deleting the last checkpoints leaves an unsigned_tail named at its first seq."""
    sql(trail, "DELETE FROM trail_checkpoints WHERE seq > :s", s=kept_upto)
    report = verify_store(trail, signer.public_key())
    assert [(p.seq, p.code) for p in report.problems] == [(first_unsigned, "unsigned_tail")]


def test_tail_truncated_checkpoint_kept(trail, signer):
    """Deleting the last entries but not their checkpoint is checkpoint_past_end at the first missing seq."""
    sql(trail, "DELETE FROM trail_entries WHERE seq > 10")
    report = verify_store(trail, signer.public_key())
    assert report.first_bad_seq == 11 and "checkpoint_past_end" in codes(report)


def test_tail_truncated_with_checkpoints_but_head_row_kept(trail, signer):
    """Deleting the tail and its checkpoints is still caught by the head row (unless it is forged too)."""
    sql(trail, "DELETE FROM trail_entries WHERE seq > 9")
    sql(trail, "DELETE FROM trail_checkpoints WHERE seq > 9")
    report = verify_store(trail, signer.public_key())
    assert [(p.seq, p.code) for p in report.problems] == [(10, "head_mismatch")]


def test_stops_after_max_problems(trail, signer):
    """A thoroughly broken trail yields at most MAX_PROBLEMS problems and says it stopped early."""
    sql(trail, "UPDATE trail_entries SET body = body || ' ', actor = 'x'")
    report = verify_store(trail, signer.public_key())
    assert len(report.problems) == MAX_PROBLEMS and report.stopped_early and report.first_bad_seq == 1


def test_store_pages_do_not_change_the_verdict(trail, signer):
    """Verifying with tiny pages gives the same report as with large ones."""
    sql(trail, "UPDATE trail_entries SET body = body || ' ' WHERE seq = 9")
    assert verify_store(trail, signer.public_key(), page=2) == verify_store(trail, signer.public_key())


# -- plain dicts, as in an auditor export -----------------------------------------------------


def _export(store: TrailStore) -> tuple[list[dict], list[dict]]:
    text = json.dumps({"entries": [e.to_dict() for e in store.iter_entries()],
                       "checkpoints": [cp.to_dict() for cp in store.checkpoints()]}, ensure_ascii=False)
    data = json.loads(text)
    return data["entries"], data["checkpoints"]


def test_export_dicts_verify(trail, signer):
    """Entries and checkpoints exported to JSON and parsed back verify without a database."""
    entries, cps = _export(trail)
    report = verify_entries(entries, cps, signer.public_key())
    assert report.ok and report.entries == 12 and report.head_hash == trail.head()[1]
    assert verify_entries(trail.iter_entries(), trail.checkpoints(), signer.public_key()).ok


def test_export_dicts_tampering(trail, signer):
    """Editing, dropping and reordering exported entries are each named at the right seq."""
    key = signer.public_key()
    entries, cps = _export(trail)
    edited = [dict(e) for e in entries]
    edited[3]["data"] = {"forged": True}
    assert verify_entries(edited, cps, key).first_bad_seq == 4
    assert verify_entries(entries[:6] + entries[7:], cps, key).first_bad_seq == 7
    swapped = entries[:7] + [entries[8], entries[7]] + entries[9:]
    report = verify_entries(swapped, cps, key)
    assert report.first_bad_seq == 8 and {"sequence_gap", "sequence_order"} <= codes(report)
    assert verify_entries(entries, cps[:-1], key).first_bad_seq == 10
