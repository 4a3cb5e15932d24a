"""The trail's error tree.

::

    TrailError          any failure of the change trail
    ├── TrailStoreError the database could not be read or written (driver errors are translated here)
    └── KeyFileError    a signing or verifying key is missing, unreadable or of the wrong type

Messages never contain key material.
"""
from __future__ import annotations


class TrailError(Exception):
    """Base of every error raised by :mod:`crmgate.trail`."""

    code = "trail_error"

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": str(self)}


class TrailStoreError(TrailError):
    """The trail database failed, or the store was used in a way it cannot serve (e.g. no signer)."""

    code = "trail_store_error"


class KeyFileError(TrailError):
    """A trail key could not be created or loaded. The message names the source, never the key."""

    code = "invalid_trail_key"
