"""Export manifests: reading them, checking their signatures, and the truncation proof.

A manifest (written by :mod:`crmgate.audit.export`, format in the README's "Auditors" section) is
signed by the trail key at export time and carries the signed checkpoint of the head the export
saw. :func:`check_manifest` checks both signatures; :func:`verify_since_manifest` proves that the
live trail still extends that head, so entries cut off the end together with their checkpoints
(which the store verifier alone cannot see) are caught. Problem codes are listed in
:data:`PROBLEM_CODES`, shared with :mod:`crmgate.audit.verify_export`.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crmgate.trail import (
    GENESIS,
    TrailStore,
    TrailVerifierKey,
    checkpoint_message,
    verify_store,
)
from crmgate.trail.chainproof import manifest_signed_by
from crmgate.trail.verify import Problem

MAX_PROBLEMS = 50
PROBLEM_CODES: dict[str, str] = {
    "manifest_unreadable": "the manifest is missing or not JSON",
    "manifest_signature": "the manifest's signature fails: the manifest was edited (or signed by another key)",
    "head_signature": "the head checkpoint's signature fails",
    "head_mismatch": "the signed head checkpoint does not match the manifest's or the chain file's head",
    "export_missing": "the export or chain file is missing",
    "export_sha256": "the export file's SHA-256 differs from the manifest: the file was changed",
    "chain_sha256": "the chain file's SHA-256 differs from the manifest",
    "entries_sha256": "the CSV's entries file (PATH.entries.jsonl) SHA-256 differs from the manifest",
    "chain_malformed": "the chain file is not a complete, ordered chain",
    "malformed_entry": "an exported entry cannot be read",
    "entry_edited": "an exported entry's content does not match its hash or the chain",
    "entry_deleted": "an entry the chain marks as exported is missing from the export",
    "entry_inserted": "the export holds an entry the chain does not mark as exported",
    "entries_reordered": "exported entries are out of sequence order",
    "tail_cut": "entries at the end are missing",
    "chain_broken": "an entry's prev_hash is not the chain's hash before it",
    "chain_recomputed": "the hashes agree with each other but not with a signed checkpoint: recomputed without the key",
    "checkpoint_signature": "a checkpoint in the chain file has an invalid signature",
    "manifest_mismatch": "the manifest's counts or first/last seq differ from the export",
    "file_not_text": "the export, entries or chain file is not UTF-8 text: it was replaced or corrupted",
    "history_rewritten": "(--since-manifest) the live entry at the old head seq has another hash",
}


class Stop(Exception):
    """Raised once MAX_PROBLEMS problems have been collected."""


@dataclass
class Findings:
    """Problems found so far (bounded), and entries reported deleted (to re-file as reordered)."""

    problems: list[Problem] = field(default_factory=list)
    deleted: dict[int, int] = field(default_factory=dict)  # seq -> index in problems (bounded)

    def add(self, seq: int | None, code: str, message: str) -> int:
        self.problems.append(Problem(seq, code, message))
        if len(self.problems) >= MAX_PROBLEMS:
            raise Stop
        return len(self.problems) - 1


def checkpoint_ok(cp: Mapping[str, Any], key: TrailVerifierKey) -> bool:
    try:
        return cp["key_id"] == key.key_id and key.verify(
            checkpoint_message(cp["seq"], cp["head_hash"], cp["ts"], cp["key_id"]), cp["signature"])
    except (KeyError, TypeError, ValueError):
        return False


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in blocks (exports can be large)."""
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def load_manifest(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Return the parsed manifest, or None when it is missing or not a JSON object."""
    try:
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def check_manifest(st: Findings, m: dict[str, Any], key: TrailVerifierKey) -> tuple[int, str, str | None]:
    """Check the manifest and head signatures; return (head seq, head hash, signed head hash or None)."""
    if not manifest_signed_by(m, key):
        st.add(None, "manifest_signature", "the manifest's signature does not verify with this public key: "
                                           "the manifest was edited or signed by another key")
    head = m.get("head") if isinstance(m.get("head"), dict) else {}
    head_seq, head_hash = head.get("seq", 0), head.get("hash", GENESIS)
    cp = m.get("head_checkpoint")
    if not cp:
        if head_seq:
            st.add(head_seq, "head_signature", "the manifest carries no checkpoint for its head")
        return head_seq, head_hash, None
    if not isinstance(cp, dict) or not checkpoint_ok(cp, key):
        st.add(head_seq, "head_signature", "the head checkpoint's signature does not verify: the manifest's "
                                           "head was tampered with")
        return head_seq, head_hash, None
    if cp.get("seq") != head_seq or cp.get("head_hash") != head_hash:
        st.add(head_seq, "head_mismatch", f"the signed head checkpoint (seq {cp.get('seq')}) does not match "
                                          f"the manifest's head (seq {head_seq})")
    return head_seq, head_hash, cp.get("head_hash")


def verify_since_manifest(store: TrailStore, key: TrailVerifierKey,
                          manifest_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Prove the live trail still extends the head recorded by an earlier export's manifest.

    Checks the old manifest's signatures, verifies the whole live store, and checks that the live
    chain reaches the old head seq with the same hash. Returns a JSON-able report with ``ok``,
    ``old_head``, ``live_head``, ``first_bad_seq`` and ``problems`` (codes as in
    :data:`PROBLEM_CODES`, plus ``history_rewritten`` and the store verifier's codes).
    """
    st = Findings()
    m = load_manifest(manifest_path)
    old_seq: int | None = None
    old_hash: str | None = None
    live = verify_store(store, key)
    try:
        if m is None:
            st.add(None, "manifest_unreadable", f"no readable manifest at {manifest_path}")
        else:
            old_seq, old_hash, _signed = check_manifest(st, m, key)
        for problem in live.problems:
            st.add(problem.seq, problem.code, f"live trail: {problem.message}")
        if old_seq is not None and live.head_seq < old_seq:
            st.add(live.head_seq + 1, "tail_cut", f"the trail ends at seq {live.head_seq} but the export of "
                                                  f"{m.get('created_at') if m else '?'} recorded head seq {old_seq}: "
                                                  f"entries {live.head_seq + 1}..{old_seq} were cut off")
        elif old_seq:
            [entry] = store.read(old_seq, 1)
            if entry.hash != old_hash:
                st.add(old_seq, "history_rewritten", f"the live entry at seq {old_seq} has another hash than the "
                                                     f"export recorded: the trail was rewritten")
    except Stop:
        pass
    seqs = [p.seq for p in st.problems if p.seq is not None]
    return {"ok": not st.problems, "old_head": {"seq": old_seq, "hash": old_hash},
            "live_head": {"seq": live.head_seq, "hash": live.head_hash}, "live_entries": live.entries,
            "first_bad_seq": min(seqs) if seqs else None, "problems": [p.to_dict() for p in st.problems]}
