"""The check an export makes on the stored chain while it streams it (:mod:`crmgate.audit.export`).

:func:`stream_checked` reads the rows as plain tuples, checks each one and hands it to the writer
in the same pass; at the first row it cannot pass it raises :class:`Recheck`, and the exporter
starts over under the full trail verifier, which names the problem exactly.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmgate.audit.formats import loads
from crmgate.trail import GENESIS, Checkpoint, TrailVerifierKey, checkpoint_message, entry_hash

BASE = ("seq", "body", "prev_hash", "hash")
SELECT_COLUMNS = ("ts", "proposal_id", "actor", "use_case", "object", "record_id")


class Recheck(Exception):
    """The streaming check found a row it cannot pass: export again under the trail verifier."""


def stream_checked(scan: Any, head: tuple[int, str] | None, key: TrailVerifierKey, filtered: bool,
                   select: Callable[[dict[str, Any]], bool], writer: Any) -> tuple[int, str]:
    """Stream and check: seqs gap-free from 1, every ``prev_hash`` the previous hash, every hash
    recomputed from its body, every checkpoint in order, signed by ``key`` and equal to the chain at
    its seq, the last entry signed and equal to the head row; and every column the selection reads
    equal to the body. ``writer`` gets ``entry(seq, body, prev_hash, hash, selected)`` and
    ``checkpoint(cp)``. Returns the head; raises :class:`Recheck` on any doubt."""
    checked = SELECT_COLUMNS if filtered else ()
    columns = (*BASE, *checked)
    checkpoints = scan.checkpoints()
    pending = next(checkpoints, None)
    last_seq, last_hash, last_cp = 0, GENESIS, 0
    everything = not filtered
    for t in scan.tuples(columns):
        seq, body, prev, digest = t[0], t[1], t[2], t[3]
        if seq != last_seq + 1 or prev != last_hash or entry_hash(prev, body) != digest:
            raise Recheck
        if checked:
            try:
                content = loads(body)
            except ValueError:
                raise Recheck from None
            if type(content) is not dict or content.get("seq") != seq or any(
                    t[i] != content.get(name) for i, name in enumerate(checked, start=4)):
                raise Recheck
        writer.entry(seq, body, prev, digest, everything or select(dict(zip(columns, t))))
        last_seq, last_hash = seq, digest
        while pending is not None and pending.seq <= seq:
            if pending.seq != seq or pending.head_hash != digest or not _signed(pending, key):
                raise Recheck
            writer.checkpoint(pending)
            last_cp = seq
            pending = next(checkpoints, None)
    if pending is not None or last_cp != last_seq or head != (last_seq, last_hash):
        raise Recheck
    return last_seq, last_hash


def _signed(cp: Checkpoint, key: TrailVerifierKey) -> bool:
    try:
        return cp.key_id == key.key_id and key.verify(
            checkpoint_message(cp.seq, cp.head_hash, cp.ts, cp.key_id), cp.signature)
    except (TypeError, ValueError):
        return False
