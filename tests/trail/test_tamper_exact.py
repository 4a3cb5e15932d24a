"""Each kind of tampering, alone, is reported with its exact codes and sequence numbers.

The trail under test has entries 1..12 and checkpoints at 3, 6, 9 and 12 (``fill``). Every case
asserts the complete problem list, so a check that stops firing, or fires where it should not,
fails here. Two kinds are caught by one check only: an entry edited with its own hash recomputed
(only the next entry's ``prev_hash`` link shows it), and a rewritten ``prev_hash`` with the hash
recomputed over it (only the link check shows it).
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from crmgate.trail import TrailSigner, TrailStore, canonical_json, entry_hash, verify_entries
from crmgate.trail.records import CONTENT_FIELDS

from .trailkit import fill


@pytest.fixture
def chain(make_store) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    store: TrailStore = make_store()
    fill(store)
    data = json.loads(json.dumps({"e": [e.to_dict() for e in store.iter_entries()],
                                  "c": [c.to_dict() for c in store.checkpoints()]}))
    return data["e"], data["c"]


def problems(entries, checkpoints, key) -> list[tuple[int | None, str]]:
    return [(p.seq, p.code) for p in verify_entries(entries, checkpoints, key).problems]


def rehash(entry: dict[str, Any]) -> None:
    """Recompute an entry's own hash over its (edited) content and prev_hash, as a forger would."""
    body = canonical_json({name: entry[name] for name in CONTENT_FIELDS})
    entry["hash"] = entry_hash(entry["prev_hash"], body)


def test_untouched_chain_has_no_problem(chain, signer):
    """The baseline every case below departs from: no problem at all."""
    entries, cps = chain
    assert problems(entries, cps, signer.public_key()) == []


def test_edit_without_rehash_is_a_hash_mismatch_at_that_seq(chain, signer):
    """Edited content, stored hash left: hash_mismatch at 5 and nothing else (the stored hashes, which
    the next link and the checkpoint at 6 rely on, are untouched)."""
    entries, cps = chain
    entries[4]["data"] = {"forged": True}
    assert problems(entries, cps, signer.public_key()) == [(5, "hash_mismatch")]


def test_edit_with_own_hash_recomputed_is_caught_by_the_next_link(chain, signer):
    """Entry 5 edited and its hash recomputed: its own hash checks out and the checkpoint at 6 signs
    entry 6's (untouched) hash, so only entry 6's prev_hash link names it: chain_broken at 6."""
    entries, cps = chain
    entries[4]["data"] = {"forged": True}
    rehash(entries[4])
    assert problems(entries, cps, signer.public_key()) == [(6, "chain_broken")]


def test_edit_with_own_hash_recomputed_without_checkpoints(chain, signer):
    """Without checkpoints the link check is the only thing that catches a rehashed edit."""
    entries, _ = chain
    entries[4]["data"] = {"forged": True}
    rehash(entries[4])
    assert problems(entries, [], signer.public_key()) == [(6, "chain_broken"), (1, "unsigned_tail")]


def test_rewritten_prev_hash_with_hash_recomputed(chain, signer):
    """Entry 5 re-linked to a forged predecessor and rehashed: chain_broken at 5 (its link) and at 6
    (the next link); only the link check sees it."""
    entries, cps = chain
    entries[4]["prev_hash"] = "f" * 64
    rehash(entries[4])
    assert problems(entries, cps, signer.public_key()) == [(5, "chain_broken"), (6, "chain_broken")]


def test_rewritten_prev_hash_only(chain, signer):
    """prev_hash rewritten, hash left: the entry's own hash and its link are wrong; entry 6 still
    links to entry 5's unchanged stored hash, so nothing after 5 is named."""
    entries, cps = chain
    entries[4]["prev_hash"] = "f" * 64
    assert problems(entries, cps, signer.public_key()) == [(5, "hash_mismatch"), (5, "chain_broken")]


def test_indexed_field_differs_from_a_stored_body(chain, signer):
    """An export row whose column disagrees with its hashed body: column_mismatch at that seq only."""
    entries, cps = chain
    entries[6]["body"] = canonical_json({name: entries[6][name] for name in CONTENT_FIELDS})
    entries[6]["actor"] = "human:mallory"
    assert problems(entries, cps, signer.public_key()) == [(7, "column_mismatch")]


def test_deleted_entry(chain, signer):
    """Entry 5 dropped: a gap naming 5, and entry 6's link to 4 broken."""
    entries, cps = chain
    del entries[4]
    assert problems(entries, cps, signer.public_key()) == [(5, "sequence_gap"), (6, "chain_broken")]


def test_swapped_entries(chain, signer):
    """Entries 8 and 9 swapped: 9 arrives where 8 was missing (gap at 8, its link broken), then 8
    arrives out of order; the first bad seq is 8."""
    entries, cps = chain
    entries[7], entries[8] = entries[8], entries[7]
    assert problems(entries, cps, signer.public_key()) == [
        (8, "sequence_gap"), (9, "chain_broken"), (8, "sequence_order")]


def test_truncated_tail_with_its_checkpoints(chain, signer):
    """Entries 10..12 and the checkpoint at 12 dropped: nothing in the stream itself shows it (the
    manifest's head does: see the export tests), so the verifier must report no problem."""
    entries, cps = chain
    assert problems(entries[:9], cps[:3], signer.public_key()) == []


def test_truncated_tail_with_checkpoint_kept(chain, signer):
    """Entries 10..12 dropped but the checkpoint at 12 kept: checkpoint_past_end naming 10."""
    entries, cps = chain
    assert problems(entries[:9], cps, signer.public_key()) == [(10, "checkpoint_past_end")]


def test_last_checkpoint_dropped(chain, signer):
    """The checkpoint at 12 dropped: entries 10..12 are an unsigned tail, named at 10."""
    entries, cps = chain
    assert problems(entries, cps[:-1], signer.public_key()) == [(10, "unsigned_tail")]


def test_checkpoint_signed_by_another_key(chain, signer):
    """A checkpoint re-signed with a key the auditor does not hold: bad_signature for its batch."""
    entries, cps = chain
    other = TrailSigner.generate()
    from crmgate.trail import checkpoint_message

    cp = cps[1]
    cp["signature"] = other.sign(checkpoint_message(cp["seq"], cp["head_hash"], cp["ts"], cp["key_id"]))
    assert problems(entries, cps, signer.public_key()) == [(4, "bad_signature")]


def test_checkpoints_out_of_order(chain, signer):
    """Two checkpoints swapped: checkpoint_order at the one that goes backwards."""
    entries, cps = chain
    cps[1], cps[2] = cps[2], cps[1]
    assert problems(entries, cps, signer.public_key()) == [(6, "checkpoint_order")]
