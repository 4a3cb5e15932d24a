"""Trail keys: creation, loading from file or environment, and keeping the private key private."""
from __future__ import annotations

import base64
import os
import pickle
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crmgate.trail import (
    KeyFileError,
    TrailSigner,
    generate_keypair,
    load_public_key,
    load_signer,
    public_key_from_signer,
)

NO_ENV: dict[str, str] = {}


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _seed(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


def test_generate_and_load_round_trip(tmp_path):
    """A generated private key loads back, signs, and its signature verifies with the loaded public key."""
    returned = generate_keypair(tmp_path / "trail.key", tmp_path / "trail.pub")
    signer = load_signer(tmp_path / "trail.key", env=NO_ENV)
    public = load_public_key(tmp_path / "trail.pub")
    assert signer.key_id == public.key_id == returned.key_id
    assert public == signer.public_key() == public_key_from_signer(signer)
    signature = signer.sign(b"head")
    assert public.verify(b"head", signature)
    assert not public.verify(b"head!", signature)
    assert not public.verify(b"head", "not base64!")


def test_private_key_file_mode_is_0600(tmp_path):
    """The private key file is readable by its owner only, whatever the umask."""
    old = os.umask(0)
    try:
        generate_keypair(tmp_path / "trail.key", tmp_path / "trail.pub")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "trail.key").stat().st_mode) == 0o600
    assert (tmp_path / "trail.key").read_text().startswith("-----BEGIN PRIVATE KEY-----")


@pytest.mark.parametrize("existing", ["trail.key", "trail.pub"])
def test_refuses_to_overwrite(tmp_path, existing):
    """generate_keypair raises KeyFileError and leaves files untouched when either file exists."""
    (tmp_path / existing).write_text("precious")
    with pytest.raises(KeyFileError, match="overwrite") as raised:
        generate_keypair(tmp_path / "trail.key", tmp_path / "trail.pub")
    assert raised.value.code == "invalid_trail_key"
    assert (tmp_path / existing).read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]


def test_env_pem_takes_precedence_over_file(tmp_path):
    """CRMGATE_TRAIL_KEY holding a PEM wins over the key file."""
    generate_keypair(tmp_path / "trail.key", tmp_path / "trail.pub")
    env_key = Ed25519PrivateKey.generate()
    signer = load_signer(tmp_path / "trail.key", env={"CRMGATE_TRAIL_KEY": _pem(env_key)})
    assert signer.public_key() == TrailSigner(env_key).public_key()
    assert signer.key_id != load_public_key(tmp_path / "trail.pub").key_id


def test_env_raw_base64_seed(tmp_path):
    """CRMGATE_TRAIL_KEY may hold the base64 of the 32-byte seed, also without any key file."""
    env_key = Ed25519PrivateKey.generate()
    value = base64.b64encode(_seed(env_key)).decode()
    assert load_signer(None, env={"CRMGATE_TRAIL_KEY": value}).key_id == TrailSigner(env_key).key_id


def test_reads_os_environ_by_default(monkeypatch):
    """Without an explicit env mapping, load_signer reads the process environment."""
    env_key = Ed25519PrivateKey.generate()
    monkeypatch.setenv("CRMGATE_TRAIL_KEY", base64.b64encode(_seed(env_key)).decode())
    assert load_signer().key_id == TrailSigner(env_key).key_id


@pytest.mark.parametrize("value", ["not-a-key", base64.b64encode(b"short").decode(),
                                   "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"])
def test_bad_env_value_is_a_clear_error_without_the_value(value):
    """A malformed CRMGATE_TRAIL_KEY raises KeyFileError whose message does not echo the value."""
    with pytest.raises(KeyFileError) as info:
        load_signer(None, env={"CRMGATE_TRAIL_KEY": value})
    assert info.value.code == "invalid_trail_key"
    assert "CRMGATE_TRAIL_KEY" in str(info.value)
    assert value not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_no_source_is_an_error():
    """With neither the variable nor a path, load_signer raises KeyFileError naming both options."""
    with pytest.raises(KeyFileError, match="CRMGATE_TRAIL_KEY") as raised:
        load_signer(None, env=NO_ENV)
    assert raised.value.code == "invalid_trail_key"


def test_wrong_files_raise_key_file_error(tmp_path):
    """Missing files, public keys, non-Ed25519 keys and junk all raise KeyFileError on load."""
    generate_keypair(tmp_path / "trail.key", tmp_path / "trail.pub")
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "ec.key").write_bytes(ec_key)
    (tmp_path / "junk").write_text("hello")
    for path, match in [(tmp_path / "missing.key", "does not exist"), (tmp_path / "trail.pub", "not a PEM private"),
                        (tmp_path / "ec.key", "not Ed25519"), (tmp_path / "junk", "not a PEM private")]:
        with pytest.raises(KeyFileError, match=match) as raised:
            load_signer(path, env=NO_ENV)
        assert raised.value.code == "invalid_trail_key"
    with pytest.raises(KeyFileError) as raised:
        load_public_key(tmp_path / "trail.key")
    assert raised.value.code == "invalid_trail_key"
    with pytest.raises(KeyFileError, match="does not exist") as raised:
        load_public_key(tmp_path / "missing.pub")
    assert raised.value.code == "invalid_trail_key"


def test_repr_and_pickle_never_expose_private_key():
    """repr/str show only the key id, and pickling a signer is refused."""
    key = Ed25519PrivateKey.generate()
    signer = TrailSigner(key)
    seed = _seed(key)
    shown = repr(signer) + str(signer) + repr(signer.public_key())
    assert signer.key_id in shown
    for secret in (seed.hex(), base64.b64encode(seed).decode(), _pem(key).splitlines()[1]):
        assert secret not in shown
    with pytest.raises(TypeError):
        pickle.dumps(signer)
