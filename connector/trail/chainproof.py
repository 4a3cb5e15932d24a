"""The chain proof that travels with an export, and the export manifest's signature.

An export (JSONL or CSV) holds only the entries its filters selected. Beside it, the *chain file*
(``PATH.chain``) lists the WHOLE chain from seq 1 to the head, so an auditor can place every
exported entry in it and see every gap. It is UTF-8 text, one record per line, fields separated
by one space::

    crmgate-chain 1                                   header (first line)
    E <seq> <hash>                                    an exported entry (its body is in the export)
    H <seq> <hash>                                    an entry not exported: only its hash
    C <seq> <head_hash> <ts> <key_id> <signature>     the signed checkpoint stored at <seq>,
                                                      right after that seq's E/H line

Every seq from 1 to the head appears exactly once, in order. Why hashes alone are not enough and
what the file proves: an entry's hash is ``sha256(prev_hash + "\\n" + body)``, so a verifier can
recompute an exported entry's hash from the previous hash (the line before it) and its body, but
cannot recompute the link through an entry whose body it does not have. The chain file is
therefore authenticated twice: every ``C`` line is a checkpoint signed by the trail key when it
was appended (a chain rewritten without the key disagrees with the first checkpoint after the
change), and the manifest, which records the chain file's SHA-256, is signed by the trail key at
export time (:func:`sign_manifest`), after the exporter verified the whole stored chain.

The manifest signature covers :func:`manifest_message`: the canonical JSON of the manifest
without its ``signature`` field. Its ``format`` key (``crmgate-export/1``) keeps it distinct from
a checkpoint message, which has exactly the keys seq, head_hash, ts and key_id.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import IO, Any, NamedTuple

from crmgate.trail.canonical import canonical_json
from crmgate.trail.keys import TrailSigner, TrailVerifierKey
from crmgate.trail.records import Checkpoint

HEADER = "crmgate-chain 1"
MANIFEST_FORMAT = "crmgate-export/1"


class ChainWriter:
    """Writes the chain file line by line to a binary stream; ``sha256`` is fed by the caller's sink."""

    def __init__(self, write: Any) -> None:
        self._write = write
        self._write(HEADER + "\n")

    def entry(self, seq: int, digest: str, exported: bool) -> None:
        self._write(f"{'E' if exported else 'H'} {seq} {digest}\n")

    def checkpoint(self, cp: Checkpoint) -> None:
        self._write(f"C {cp.seq} {cp.head_hash} {cp.ts} {cp.key_id} {cp.signature}\n")


class ChainLine(NamedTuple):
    """One parsed chain-file line: ``kind`` is E, H or C; ``checkpoint`` only for C; ``error`` if unreadable.

    A named tuple, not a frozen dataclass: a verify reads one per trail entry, and a frozen
    dataclass's ``__init__`` was about a third of reading the chain file."""

    line_no: int
    kind: str
    seq: int
    digest: str = ""
    checkpoint: Checkpoint | None = None
    error: str | None = None


def read_chain(stream: IO[str]) -> Iterator[ChainLine]:
    """Yield the chain file's lines (after the header) parsed; bad lines come back with ``error`` set."""
    first = stream.readline().rstrip("\n")
    if first != HEADER:
        yield ChainLine(1, "?", 0, error=f"not a crmgate chain file (header {first[:40]!r})")
        return
    for line_no, raw in enumerate(stream, start=2):
        parts = raw.rstrip("\n").split(" ")
        try:
            if parts[0] in ("E", "H") and len(parts) == 3 and len(parts[2]) == 64:
                yield ChainLine(line_no, parts[0], int(parts[1]), parts[2])
                continue
            if parts[0] == "C" and len(parts) == 6:
                cp = Checkpoint(seq=int(parts[1]), head_hash=parts[2], ts=parts[3], key_id=parts[4],
                                signature=parts[5])
                yield ChainLine(line_no, "C", cp.seq, cp.head_hash, cp)
                continue
        except ValueError:
            pass
        yield ChainLine(line_no, "?", 0, error=f"line {line_no} is not a chain record")


def manifest_message(manifest: Mapping[str, Any]) -> bytes:
    """Return the bytes a manifest signature covers: canonical JSON without ``signature``."""
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return canonical_json(body).encode("utf-8")


def sign_manifest(manifest: dict[str, Any], signer: TrailSigner) -> dict[str, Any]:
    """Return ``manifest`` with ``key_id`` and ``signature`` (Ed25519 over :func:`manifest_message`)."""
    out = {**manifest, "format": MANIFEST_FORMAT, "key_id": signer.key_id}
    out.pop("signature", None)
    return out | {"signature": signer.sign(manifest_message(out))}


def manifest_signed_by(manifest: Mapping[str, Any], key: TrailVerifierKey) -> bool:
    """True iff ``manifest`` carries a valid signature by ``key`` (and claims that key's id)."""
    signature = manifest.get("signature")
    if manifest.get("key_id") != key.key_id or not isinstance(signature, str):
        return False
    try:
        return key.verify(manifest_message(manifest), signature)
    except (TypeError, ValueError):  # a manifest whose values are not canonical JSON
        return False
