"""Credential edge cases found by mutation testing: refusal details, headers, the table's guarantees."""
from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from crmgate.doors.credentials import (
    AccessError,
    CredentialError,
    Credentials,
    create_tables,
    credential_id_of,
    credentials_table,
)
from crmgate.trail import TrailStore


@pytest.fixture
def creds(tmp_path, keypair, clock, ids):
    store = TrailStore(f"sqlite:///{tmp_path / 'creds.db'}", signer=keypair[0], clock=clock)
    yield Credentials(store, clock=clock, ids=ids, random_bytes=lambda n: bytes(range(n)))
    store.close()


def test_an_ai_refusal_names_only_the_people_only_scopes(creds):
    """ai: asking for propose and approve: the refusal lists approve alone (propose is fine)."""
    with pytest.raises(CredentialError) as info:
        creds.create("ai:deal-hygiene", ["propose", "approve"], by="admin:root")
    assert info.value.code == "scope_not_allowed"
    assert info.value.details == {"actor": "ai:deal-hygiene", "scopes": ["approve"]}
    assert "can never hold approve:" in info.value.message


def test_only_a_401_asks_for_a_bearer_token():
    """401 answers carry WWW-Authenticate: Bearer; a 403 does not."""
    assert AccessError("x", code="invalid_token", status=401).headers == {"WWW-Authenticate": "Bearer"}
    assert AccessError("x", code="missing_scope", status=403).headers == {}


def test_opening_the_credentials_twice_keeps_them(creds):
    """Creating the table again (a second server process starting) neither fails nor loses rows."""
    cred, token = creds.create("human:ana", ["approve"], by="admin:root")
    create_tables(creds.store.engine)
    assert creds.authenticate(token) == cred


def test_the_table_refuses_a_row_without_a_token_hash_or_with_a_used_one(creds):
    """Every credential row has a token hash, and no two rows share one."""
    creds.create("human:ana", ["approve"], by="admin:root")
    row = {"actor": "human:bo", "scopes": "approve", "created_at": "t", "created_by": "admin:root"}
    with creds.store.engine.connect() as conn:
        used = conn.execute(sa.select(credentials_table.c.token_sha256)).scalar_one()
    for bad in ({"id": "c_null", "token_sha256": None}, {"id": "c_dup", "token_sha256": used}):
        with pytest.raises(sa.exc.IntegrityError), creds.store.engine.begin() as conn:
            conn.execute(sa.insert(credentials_table).values(**row, **bad))


def test_a_rate_limit_of_one_is_allowed_and_zero_is_not(creds):
    """One request a minute is a real limit; zero is refused as a bad credential."""
    cred, _ = creds.create("ai:slow", ["propose"], by="admin:root", rate_limit=1)
    assert cred.rate_limit == 1
    with pytest.raises(CredentialError) as info:
        creds.create("ai:stopped", ["propose"], by="admin:root", rate_limit=0)
    assert info.value.code == "invalid_rate_limit"


def test_the_secret_is_256_random_bits(tmp_path, keypair, clock, ids):
    """The token's secret part is 32 random bytes, base64url without padding (43 characters)."""
    asked: list[int] = []
    store = TrailStore(f"sqlite:///{tmp_path / 'c.db'}", signer=keypair[0], clock=clock)
    try:
        creds = Credentials(store, clock=clock, ids=ids, random_bytes=lambda n: asked.append(n) or b"\x01" * n)
        _, token = creds.create("ai:x", ["propose"], by="admin:root")
    finally:
        store.close()
    assert asked == [32] and len(token.rsplit(".", 1)[1]) == 43


def test_credentials_are_frozen(creds):
    """A credential read for a request cannot be widened while the request runs."""
    cred, _ = creds.create("ai:x", ["propose"], by="admin:root")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cred.scopes = frozenset({"approve"})  # type: ignore[misc]


@pytest.mark.parametrize("token", ["crmgate..secret", "crmgate.cred_1.", "other.cred_1.secret", "crmgate.cred_1"])
def test_a_malformed_token_names_no_credential(token):
    """Only crmgate.<id>.<secret> with both parts present names a credential id (for logs)."""
    assert credential_id_of(token) is None


def test_a_well_formed_token_names_its_credential():
    assert credential_id_of("crmgate.cred_1.secret") == "cred_1"


def test_admin_means_holding_an_admin_scope(creds):
    """A propose-only credential is not an admin; one that may approve is."""
    bot, _ = creds.create("ai:x", ["propose", "read"], by="admin:root")
    ana, _ = creds.create("human:ana", ["approve"], by="admin:root")
    assert bot.admin is False and ana.admin is True


def test_blank_scopes_are_ignored(creds):
    """A blank entry in the scope list (a trailing comma on the command line) is dropped."""
    cred, _ = creds.create("ai:x", ["propose", "  ", ""], by="admin:root")
    assert cred.scopes == frozenset({"propose"})


def test_a_long_credential_id_is_cut_to_64_characters_for_logs():
    assert credential_id_of("crmgate." + "a" * 70 + ".secret") == "a" * 64


@pytest.mark.parametrize("missing", ["actor", "scopes", "created_at", "created_by"])
def test_every_required_column_is_not_null(creds, missing):
    """A credential row without its actor, scopes or creation stamp cannot exist."""
    row = {"id": "c_x", "actor": "human:bo", "scopes": "approve", "token_sha256": "a" * 64,
           "created_at": "t", "created_by": "admin:root", missing: None}
    with pytest.raises(sa.exc.IntegrityError), creds.store.engine.begin() as conn:
        conn.execute(sa.insert(credentials_table).values(**row))


def test_a_credential_id_is_unique(creds):
    """Two rows cannot share a credential id (the id is what a token names)."""
    cred, _ = creds.create("human:ana", ["approve"], by="admin:root")
    row = {"id": cred.id, "actor": "human:bo", "scopes": "approve", "token_sha256": "b" * 64,
           "created_at": "t", "created_by": "admin:root"}
    with pytest.raises(sa.exc.IntegrityError), creds.store.engine.begin() as conn:
        conn.execute(sa.insert(credentials_table).values(**row))
