"""crmgate's change trail: an append-only, hash-chained, Ed25519-checkpointed log.

Write with :class:`TrailStore` (needs a :class:`TrailSigner`), verify with :func:`verify_store`
or :func:`verify_entries` (needs only a :class:`TrailVerifierKey`). Imports nothing of crmgate
outside ``crmgate.trail``.
"""
from crmgate.trail.canonical import GENESIS, canonical_json, checkpoint_message, entry_hash
from crmgate.trail.errors import KeyFileError, TrailError, TrailStoreError
from crmgate.trail.keys import (
    ENV_VAR,
    TrailSigner,
    TrailVerifierKey,
    generate_keypair,
    load_public_key,
    load_signer,
    public_key_from_signer,
)
from crmgate.trail.records import Checkpoint, Entry, NewEntry
from crmgate.trail.scan import TrailScan
from crmgate.trail.store import TrailStore
from crmgate.trail.verify import MAX_PROBLEMS, Problem, VerifyReport, verify_entries, verify_store

__all__ = [
    "ENV_VAR", "GENESIS", "MAX_PROBLEMS", "Checkpoint", "Entry", "KeyFileError", "NewEntry", "Problem",
    "TrailError", "TrailScan", "TrailSigner", "TrailStore", "TrailStoreError", "TrailVerifierKey",
    "VerifyReport", "canonical_json", "checkpoint_message", "entry_hash", "generate_keypair",
    "load_public_key", "load_signer", "public_key_from_signer", "verify_entries", "verify_store",
]
