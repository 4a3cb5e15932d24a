"""The trail verifier: checks the hash chain and the signed checkpoints with only the public key.

Works on a store (:func:`verify_store`, paging through one read snapshot) or on any stream of
entries and checkpoints given as :class:`Entry`/:class:`Checkpoint` or plain dicts, e.g. an
export (:func:`verify_entries`). Entry dicts carry the content fields plus ``prev_hash`` and
``hash``; when they also carry ``body`` (the stored canonical text) the hash is checked over that
text and the other fields are checked against it, otherwise the body is recomputed from the
fields. Both streams must be in seq order. Memory use does not grow with the trail.

Problem codes (stable), each naming a seq:

``sequence_gap``          seq(s) missing; names the first missing seq
``sequence_order``        duplicate/out-of-order seq, or a row whose body says another seq
                          (rows swapped, shifted or inserted); names the smaller of the two
``hash_mismatch``         stored hash != sha256(prev_hash, body): the entry was edited
``chain_broken``          prev_hash != the previous entry's hash
``column_mismatch``       an indexed column disagrees with the body
``malformed_entry``       an entry that cannot be read (missing fields, body not a JSON object)
``bad_signature``         a checkpoint whose signature fails or whose key_id is unknown
``checkpoint_mismatch``   a validly signed checkpoint whose head_hash is not the chain's hash at
                          its seq (or whose entry is missing): the chain was rewritten
``checkpoint_order``      checkpoints not in strictly increasing seq order
``checkpoint_past_end``   a checkpoint beyond the last entry: the tail was truncated; names the
                          first missing seq
``unsigned_tail``         entries after the last checkpoint; names the first unsigned seq
``head_mismatch``         (stores only) the head row disagrees with the last entry

A bad checkpoint (signature or mismatch) names the first problem already found in the batch it
covers, or else the first seq after the previous good checkpoint: a chain recomputed without the
private key is internally consistent, so the batch is as precise as the evidence allows.
``first_bad_seq`` is the smallest seq among the problems. Verification stops after
:data:`MAX_PROBLEMS` problems (``stopped_early``).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from crmgate.trail.canonical import GENESIS, canonical_json, checkpoint_message, entry_hash
from crmgate.trail.keys import TrailVerifierKey
from crmgate.trail.records import CONTENT_FIELDS, Checkpoint, Entry
from crmgate.trail.store import TrailStore

MAX_PROBLEMS = 20
_COLUMN_FIELDS = tuple(name for name in CONTENT_FIELDS if name not in ("seq", "data"))


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: a stable ``code``, the seq it names (None if none applies), a message for people."""

    seq: int | None
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The verdict. ``ok`` iff no problems; ``head_*`` describe the last entry examined."""

    ok: bool
    entries: int
    checkpoints: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None
    problems: tuple[Problem, ...]
    stopped_early: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in
               ("ok", "entries", "checkpoints", "head_seq", "head_hash", "first_bad_seq", "stopped_early")}
        return out | {"problems": [p.to_dict() for p in self.problems]}

    def summary(self) -> str:
        """Return a one-line human summary (what a CLI prints)."""
        if self.ok:
            return f"trail OK: {self.entries} entries, {self.checkpoints} checkpoints, head seq {self.head_seq}"
        first = self.problems[0] if self.problems else None
        detail = f"; {first.code}: {first.message}" if first else ""
        return (f"trail INVALID: first bad seq {self.first_bad_seq}, "
                f"{len(self.problems)}{'+' if self.stopped_early else ''} problem(s){detail}")


class _Stop(Exception):
    """Raised internally once MAX_PROBLEMS problems have been collected."""


@dataclass
class _State:
    keys: dict[str, TrailVerifierKey]
    problems: list[Problem] = field(default_factory=list)
    entries: int = 0
    checkpoints: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    last_cp_seq: int = 0
    good_cp_seq: int = 0
    first_since_good: int | None = None

    def add(self, seq: int | None, code: str, message: str) -> None:
        self.problems.append(Problem(seq, code, message))
        if seq is not None and (self.first_since_good is None or seq < self.first_since_good):
            self.first_since_good = seq
        if len(self.problems) >= MAX_PROBLEMS:
            raise _Stop


def _as_entry_dict(item: Entry | Mapping[str, Any]) -> Mapping[str, Any]:
    return item.to_dict() if isinstance(item, Entry) else item


def _as_checkpoint_dict(item: Checkpoint | Mapping[str, Any]) -> Mapping[str, Any]:
    return item.to_dict() if isinstance(item, Checkpoint) else item


def _check_entry(st: _State, d: Mapping[str, Any]) -> None:
    seq = d.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool):
        st.add(None, "malformed_entry", f"entry after seq {st.last_seq} has no integer seq")
        return
    st.entries += 1
    in_order = True
    if seq <= st.last_seq:
        in_order = False
        st.add(seq, "sequence_order", f"seq {seq} comes after seq {st.last_seq} (duplicate or out of order)")
    elif seq > st.last_seq + 1:
        missing = f"{st.last_seq + 1}" if seq == st.last_seq + 2 else f"{st.last_seq + 1}..{seq - 1}"
        st.add(st.last_seq + 1, "sequence_gap", f"seq {missing} missing before seq {seq} (deleted entries)")
    prev_hash, stored_hash = d.get("prev_hash"), d.get("hash")
    if not isinstance(prev_hash, str) or not isinstance(stored_hash, str):
        st.add(seq, "malformed_entry", f"entry {seq} lacks prev_hash or hash")
        return
    body = d.get("body")
    try:
        if body is None:
            content = {name: d.get(name) for name in CONTENT_FIELDS}
            if content["data"] is None:
                content["data"] = {}
            body = canonical_json(content)
            parsed: Any = None
        else:
            parsed = json.loads(body)
    except (TypeError, ValueError):
        st.add(seq, "malformed_entry", f"entry {seq} has a body that cannot be read")
        parsed = None
    if isinstance(body, str) and entry_hash(prev_hash, body) != stored_hash:
        st.add(seq, "hash_mismatch", f"entry {seq}: stored hash does not match its content (entry edited)")
    if in_order and prev_hash != st.last_hash:
        st.add(seq, "chain_broken", f"entry {seq}: prev_hash does not match the hash of entry {st.last_seq}")
    if parsed is not None:
        _check_columns(st, seq, d, parsed)
    if in_order:
        st.last_seq, st.last_hash = seq, stored_hash


def _check_columns(st: _State, seq: int, d: Mapping[str, Any], parsed: Any) -> None:
    if not isinstance(parsed, dict):
        st.add(seq, "malformed_entry", f"entry {seq}: body is not a JSON object")
        return
    body_seq = parsed.get("seq")
    if body_seq != seq:
        named = min(seq, body_seq) if isinstance(body_seq, int) and body_seq > 0 else seq
        st.add(named, "sequence_order",
               f"row stored at seq {seq} has body seq {body_seq!r} (rows reordered, inserted or shifted)")
    wrong = [name for name in _COLUMN_FIELDS if name in d and d[name] != parsed.get(name)]
    if "data" in d and d["data"] is not None:
        try:
            if canonical_json(d["data"]) != canonical_json(parsed.get("data")):
                wrong.append("data")
        except (TypeError, ValueError):
            wrong.append("data")
    if wrong:
        st.add(seq, "column_mismatch", f"entry {seq}: {', '.join(wrong)} disagree(s) with the hashed body")


def _check_checkpoint(st: _State, cp: Mapping[str, Any], chain_hash: str | None) -> None:
    seq = cp.get("seq")
    st.checkpoints += 1
    if not isinstance(seq, int) or seq <= st.last_cp_seq:
        st.add(seq if isinstance(seq, int) else None, "checkpoint_order",
               f"checkpoint seq {seq!r} does not follow checkpoint seq {st.last_cp_seq}")
        return
    st.last_cp_seq = seq
    covered = st.first_since_good if st.first_since_good is not None else st.good_cp_seq + 1
    batch = f"entries from seq {covered} (first after the last good checkpoint at seq {st.good_cp_seq})"
    key = st.keys.get(str(cp.get("key_id")))
    try:
        message = checkpoint_message(seq, cp["head_hash"], cp["ts"], cp["key_id"])
        signed = key is not None and key.verify(message, cp["signature"])
    except (KeyError, TypeError, ValueError):
        signed = False
    if key is None:
        st.add(covered, "bad_signature", f"checkpoint at seq {seq} is signed by unknown key id "
                                         f"{cp.get('key_id')!r}: {batch} are not authenticated")
    elif not signed:
        st.add(covered, "bad_signature", f"checkpoint at seq {seq} has an invalid signature: "
                                         f"{batch} are not authenticated")
    elif chain_hash is None:
        st.add(covered, "checkpoint_mismatch", f"checkpoint at seq {seq} signs an entry that is missing")
    elif cp["head_hash"] != chain_hash and st.first_since_good is not None:
        st.add(covered, "checkpoint_mismatch", f"checkpoint at seq {seq} does not match the chain's hash "
                                               f"there: entries from seq {covered} were changed")
    elif cp["head_hash"] != chain_hash:
        st.add(covered, "checkpoint_mismatch",
               f"checkpoint at seq {seq} does not match the chain's hash there although the chain is "
               f"internally consistent: it was recomputed without the private key; {batch} were changed")
    else:
        st.good_cp_seq, st.first_since_good = seq, None


class _Peek:
    def __init__(self, items: Iterable[Checkpoint | Mapping[str, Any]]) -> None:
        self._it: Iterator[Checkpoint | Mapping[str, Any]] = iter(items)
        self.next: Mapping[str, Any] | None = None
        self.advance()

    def advance(self) -> None:
        item = next(self._it, None)
        self.next = None if item is None else _as_checkpoint_dict(item)

    def seq(self) -> int | float:
        seq = self.next.get("seq") if self.next is not None else None
        return seq if isinstance(seq, int) else float("-inf")


def _run(st: _State, entries: Iterable[Entry | Mapping[str, Any]],
         checkpoints: Iterable[Checkpoint | Mapping[str, Any]]) -> bool:
    cps = _Peek(checkpoints)
    try:
        for item in entries:
            d = _as_entry_dict(item)
            _check_entry(st, d)
            seq = d.get("seq")
            while cps.next is not None and cps.seq() <= st.last_seq:
                chain_hash = st.last_hash if cps.seq() == st.last_seq and seq == st.last_seq else None
                _check_checkpoint(st, cps.next, chain_hash)
                cps.advance()
        if cps.next is not None:
            first = cps.next.get("seq")
            extra = 0
            while cps.next is not None:
                st.checkpoints += 1
                extra += 1
                cps.advance()
            st.add(st.last_seq + 1, "checkpoint_past_end",
                   f"checkpoint at seq {first} (and {extra - 1} more) lies past the last entry {st.last_seq}: "
                   f"entries from seq {st.last_seq + 1} were deleted (tail truncated)")
            st.last_cp_seq = max(st.last_cp_seq, first if isinstance(first, int) else 0)
        if st.last_seq > st.last_cp_seq:
            st.add(st.last_cp_seq + 1, "unsigned_tail",
                   f"entries {st.last_cp_seq + 1}..{st.last_seq} are not covered by any signed checkpoint")
    except _Stop:
        return True
    return False


def _report(st: _State, stopped: bool) -> VerifyReport:
    seqs = [p.seq for p in st.problems if p.seq is not None]
    first_bad = min(seqs) if seqs else None
    return VerifyReport(ok=not st.problems, entries=st.entries, checkpoints=st.checkpoints,
                        head_seq=st.last_seq, head_hash=st.last_hash, first_bad_seq=first_bad,
                        problems=tuple(st.problems), stopped_early=stopped)


def _keys(key: TrailVerifierKey | Iterable[TrailVerifierKey]) -> dict[str, TrailVerifierKey]:
    keys = [key] if isinstance(key, TrailVerifierKey) else list(key)
    return {k.key_id: k for k in keys}


def verify_entries(entries: Iterable[Entry | Mapping[str, Any]],
                   checkpoints: Iterable[Checkpoint | Mapping[str, Any]],
                   key: TrailVerifierKey | Iterable[TrailVerifierKey]) -> VerifyReport:
    """Verify a stream of entries and checkpoints (both in seq order) against the public key(s)."""
    st = _State(keys=_keys(key))
    stopped = _run(st, entries, checkpoints)
    return _report(st, stopped)


def verify_store(store: TrailStore, key: TrailVerifierKey | Iterable[TrailVerifierKey], *,
                 page: int = 5000) -> VerifyReport:
    """Verify everything in ``store`` inside one read snapshot, plus its head row."""
    st = _State(keys=_keys(key))
    with store.scan(page=page) as scan:
        stopped = _run(st, scan.rows(), scan.checkpoints())
        head = scan.head()
    if not stopped:
        try:
            _check_head(st, head)
        except _Stop:
            stopped = True
    return _report(st, stopped)


def _check_head(st: _State, head: tuple[int, str] | None) -> None:
    if head is None:
        st.add(None, "head_mismatch", "the trail head row is missing")
    elif head[0] != st.last_seq:
        st.add(min(head[0], st.last_seq) + 1, "head_mismatch",
               f"the head row says seq {head[0]} but the last entry is seq {st.last_seq}")
    elif head[1] != st.last_hash:
        st.add(head[0], "head_mismatch", f"the head row's hash differs from entry {head[0]}'s hash")
