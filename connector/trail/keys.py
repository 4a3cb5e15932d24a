"""Ed25519 keys of the trail: a signer (private, for writers) and a verifier key (public, for anyone).

Contract:

* The private key lives in a PEM (PKCS#8, unencrypted, mode 0600) file created by
  :func:`generate_keypair`, or in the environment variable ``CRMGATE_TRAIL_KEY`` (PEM text, or the
  standard base64 of the 32-byte raw seed). The variable, when set and non-empty, wins over a file.
* Key material is never put in reprs, exception messages or logs; key-loading errors are raised
  ``from None`` so no parser frame holding key text is chained into a traceback.
* ``key_id`` is the first 16 hex digits of SHA-256 over the raw 32-byte public key.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crmgate.trail.errors import KeyFileError

ENV_VAR = "CRMGATE_TRAIL_KEY"

_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def _key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(public.public_bytes(*_RAW)).hexdigest()[:16]


class TrailVerifierKey:
    """An Ed25519 public key that checks checkpoint signatures. Equal when the key bytes are equal."""

    __slots__ = ("_key", "key_id")

    def __init__(self, key: Ed25519PublicKey) -> None:
        if not isinstance(key, Ed25519PublicKey):
            raise TypeError("TrailVerifierKey needs an Ed25519 public key")
        self._key = key
        self.key_id = _key_id(key)

    @classmethod
    def from_pem(cls, data: bytes | str) -> TrailVerifierKey:
        """Parse a PEM SubjectPublicKeyInfo; raise :class:`KeyFileError` if it is not an Ed25519 key."""
        raw = data.encode("ascii", "replace") if isinstance(data, str) else data
        try:
            key = serialization.load_pem_public_key(raw)
        except (ValueError, TypeError):
            raise KeyFileError("not a PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError("the public key is not an Ed25519 key")
        return cls(key)

    def to_pem(self) -> bytes:
        """Return the key as PEM SubjectPublicKeyInfo."""
        return self._key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def raw(self) -> bytes:
        """Return the 32 raw public key bytes."""
        return self._key.public_bytes(*_RAW)

    def verify(self, message: bytes, signature_b64: str) -> bool:
        """Return True iff ``signature_b64`` (standard base64) is this key's signature of ``message``."""
        try:
            signature = base64.b64decode(signature_b64, validate=True)
            self._key.verify(signature, message)
        except (InvalidSignature, binascii.Error, ValueError, TypeError):
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TrailVerifierKey) and self.raw() == other.raw()

    def __hash__(self) -> int:
        return hash(self.raw())

    def __repr__(self) -> str:
        return f"TrailVerifierKey(key_id={self.key_id!r})"


class TrailSigner:
    """Holds the trail's Ed25519 private key and signs checkpoints. Never shows or pickles the key."""

    __slots__ = ("_key", "key_id")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        if not isinstance(key, Ed25519PrivateKey):
            raise TypeError("TrailSigner needs an Ed25519 private key")
        self._key = key
        self.key_id = _key_id(key.public_key())

    @classmethod
    def generate(cls) -> TrailSigner:
        """Return a signer with a fresh random key (tests and :func:`generate_keypair`)."""
        return cls(Ed25519PrivateKey.generate())

    def sign(self, message: bytes) -> str:
        """Return the standard-base64 Ed25519 signature of ``message``."""
        return base64.b64encode(self._key.sign(message)).decode("ascii")

    def public_key(self) -> TrailVerifierKey:
        """Return the matching verifier key."""
        return TrailVerifierKey(self._key.public_key())

    def __repr__(self) -> str:
        return f"TrailSigner(key_id={self.key_id!r})"

    __str__ = __repr__

    def __reduce__(self):  # noqa: ANN204 - pickling protocol
        raise TypeError("TrailSigner cannot be pickled: the private key must not leave the process")


def public_key_from_signer(signer: TrailSigner) -> TrailVerifierKey:
    """Return the verifier key of ``signer``."""
    return signer.public_key()


def _private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise KeyFileError(f"refusing to overwrite existing key file {path}") from None
    except OSError as exc:
        raise KeyFileError(f"cannot create key file {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)


def generate_keypair(private_path: str | Path, public_path: str | Path) -> TrailVerifierKey:
    """Create a new key pair: private PEM PKCS#8 (mode 0600) and public PEM SPKI (mode 0644).

    Refuses (``KeyFileError``) when either file already exists; nothing is written in that case.
    """
    private_path, public_path = Path(private_path), Path(public_path)
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise KeyFileError(f"refusing to overwrite existing key file {path}")
    signer = TrailSigner.generate()
    _write_new(private_path, _private_pem(signer._key), 0o600)
    verifier = signer.public_key()
    try:
        _write_new(public_path, verifier.to_pem(), 0o644)
    except KeyFileError:
        private_path.unlink(missing_ok=True)
        raise
    return verifier


def _private_from_pem(data: bytes, source: str) -> TrailSigner:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(f"{source} holds an encrypted private key; crmgate needs an unencrypted one") from None
    except ValueError:
        raise KeyFileError(f"{source} is not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{source} holds a private key that is not Ed25519")
    return TrailSigner(key)


def _signer_from_env(value: str) -> TrailSigner:
    text = value.strip()
    if "-----BEGIN" in text:
        return _private_from_pem(text.encode("ascii", "replace"), f"${ENV_VAR}")
    try:
        seed = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        seed = b""
    if len(seed) != 32:
        raise KeyFileError(f"${ENV_VAR} is neither an Ed25519 PEM private key nor base64 of a 32-byte seed")
    return TrailSigner(Ed25519PrivateKey.from_private_bytes(seed))


def load_signer(path: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> TrailSigner:
    """Load the private key: ``$CRMGATE_TRAIL_KEY`` from ``env`` (default ``os.environ``) if set, else ``path``.

    Raises :class:`KeyFileError` when neither is given, or the source is missing, unreadable or
    not an unencrypted Ed25519 private key.
    """
    environ = os.environ if env is None else env
    value = environ.get(ENV_VAR)
    if value:
        return _signer_from_env(value)
    if path is None:
        raise KeyFileError(f"no trail private key: set ${ENV_VAR} or give a key file")
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"trail key file {path} does not exist") from None
    except OSError as exc:
        raise KeyFileError(f"trail key file {path} cannot be read: {exc.strerror}") from None
    return _private_from_pem(data, f"trail key file {path}")


def load_public_key(path: str | Path) -> TrailVerifierKey:
    """Load a PEM SubjectPublicKeyInfo Ed25519 key; :class:`KeyFileError` if missing or wrong."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"trail public key file {path} does not exist") from None
    except OSError as exc:
        raise KeyFileError(f"trail public key file {path} cannot be read: {exc.strerror}") from None
    try:
        return TrailVerifierKey.from_pem(data)
    except KeyFileError as exc:
        raise KeyFileError(f"trail public key file {path}: {exc}") from None
