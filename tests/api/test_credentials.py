"""Credentials: tokens stored as hashes, scopes, AI actors never approvers, revocation, the trail."""
from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from crmgate.doors.credentials import (
    AccessError,
    CredentialError,
    Credentials,
    TOKEN_CACHE_SECONDS,
    credential_id_of,
    credentials_table,
)
from crmgate.trail import TrailStore


@pytest.fixture
def creds(store_url, keypair, clock, ids):
    """Credentials on SQLite and on PostgreSQL (where several server processes share them)."""
    store = TrailStore(store_url, signer=keypair[0], clock=clock)
    yield Credentials(store, clock=clock, ids=ids, random_bytes=lambda n: bytes(range(n)))
    store.close()


def test_token_is_returned_once_and_only_its_hash_is_stored(creds):
    """The database holds the SHA-256 of the token, never the token or its secret part."""
    cred, token = creds.create("ai:lead-intake-1", ["propose", "read"], by="admin:root")
    assert token.startswith(f"crmgate.{cred.id}.")
    with creds.store.engine.connect() as conn:
        row = conn.execute(sa.select(credentials_table)).mappings().one()
    assert row["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    secret = token.rsplit(".", 1)[1]
    assert all(secret not in str(v) for v in row.values())
    assert creds.authenticate(token) == cred


def test_creation_and_revocation_are_trail_entries_without_the_token(creds):
    """credential.created and credential.revoked name the actor and scopes; no token, no hash."""
    cred, token = creds.create("ai:x", ["propose"], by="admin:root", label="lead bot", rate_limit=30)
    creds.revoke(cred.id, by="admin:ana")
    entries = list(creds.store.iter_entries())
    assert [e.kind for e in entries] == ["credential.created", "credential.revoked"]
    assert entries[0].actor == "admin:root" and entries[1].actor == "admin:ana"
    assert entries[0].data == {"credential_id": cred.id, "actor": "ai:x", "scopes": ["propose"],
                               "label": "lead bot", "rate_limit": 30}
    text = repr([e.to_dict() for e in entries])
    assert token not in text and token.rsplit(".", 1)[1] not in text
    assert hashlib.sha256(token.encode()).hexdigest() not in text


@pytest.mark.parametrize("scopes", [["approve"], ["rollback"], ["propose", "approve"]])
def test_an_ai_actor_can_never_hold_approve_or_rollback(creds, scopes):
    """Creating such a credential is refused and writes nothing."""
    with pytest.raises(CredentialError) as info:
        creds.create("ai:deal-hygiene", scopes, by="admin:root")
    assert info.value.code == "scope_not_allowed"
    assert creds.list() == [] and creds.store.count() == 0


def test_an_ai_row_edited_to_approve_still_cannot_approve(creds):
    """A scope added to the table by hand is dropped when an ai: credential is loaded."""
    cred, token = creds.create("AI:scorer", ["propose"], by="admin:root")
    with creds.store.engine.begin() as conn:
        conn.execute(credentials_table.update().values(scopes="approve,propose,rollback"))
    assert creds.authenticate(token).scopes == {"propose"}


@pytest.mark.parametrize("scopes, code", [([], "unknown_scope"), (["propose", "admin"], "unknown_scope")])
def test_bad_scopes_are_refused(creds, scopes, code):
    """No scope, or an unknown one, is a structured error naming the problem."""
    with pytest.raises(CredentialError) as info:
        creds.create("admin:ana", scopes, by="admin:root")
    assert info.value.code == code


@pytest.mark.parametrize("token", [None, "", "Bearer", "crmgate.cred_000001.wrong", "crmgate..x",
                                   "x" * 5000, "crmgate.cred_999.abc"])
def test_unknown_tokens_are_401(creds, token):
    """Missing, malformed, wrong-secret and unknown-id tokens are all refused with 401."""
    creds.create("ai:x", ["propose"], by="admin:root")
    with pytest.raises(AccessError) as info:
        creds.authenticate(token)
    assert info.value.status == 401
    assert info.value.code == ("missing_token" if not token else "invalid_token")


def test_a_revoked_token_is_refused_at_once(creds):
    """After revoke, the same token is 401 revoked_token; revoking twice is an error."""
    cred, token = creds.create("ai:x", ["propose"], by="admin:root")
    creds.revoke(cred.id, by="admin:root")
    with pytest.raises(AccessError) as info:
        creds.authenticate(token)
    assert (info.value.status, info.value.code) == (401, "revoked_token")
    with pytest.raises(CredentialError) as again:
        creds.revoke(cred.id, by="admin:root")
    assert again.value.code == "already_revoked"


def test_credential_id_of_reads_only_well_formed_tokens():
    """Logs may name the credential id of a token, never more of it."""
    assert credential_id_of("crmgate.cred_1.secret") == "cred_1"
    assert credential_id_of("crmgate.cred_1") is None
    assert credential_id_of("other.cred_1.secret") is None
    assert credential_id_of(None) is None


@pytest.mark.parametrize("actor", ["ai：x", "ａｉ:x", "\u200bai:x", "ai :x", "AI:x", "\tAi:x"])
def test_look_alike_ai_actors_are_ai(creds, actor):
    """No spelling gets an AI actor an approver's token: look-alikes are refused as names, or as AI."""
    from crmgate.actors import is_ai

    assert is_ai(actor)
    with pytest.raises(CredentialError) as info:
        creds.create(actor, ["approve"], by="admin:root")
    assert info.value.code in ("invalid_actor", "scope_not_allowed")
    assert creds.list() == []


def test_plain_names_are_required(creds):
    """Credential actors are plain names: no spaces or invisible characters, NFKC form."""
    for bad in ("admin ana", "admin:\u200bana", "ａdmin"):
        with pytest.raises(CredentialError) as info:
            creds.create(bad, ["read"], by="admin:root")
        assert info.value.code == "invalid_actor"
    assert creds.create("admin:ana@acme.example", ["read"], by="admin:root")[0].actor == "admin:ana@acme.example"


class Seconds:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server_view(creds):
    """What a server process sees: its own Credentials over the same table, trusting a checked token
    for one second (``creds`` plays another process: ``crmgate tokens``, another worker)."""
    seconds = Seconds()
    return Credentials(creds.store, clock=creds.clock, ids=creds.ids, cache_seconds=1.0, monotonic=seconds), seconds


def test_a_token_revoked_elsewhere_stops_working_within_the_cache_seconds(creds, server_view):
    """The server trusts a checked token for less than cache_seconds: revoked by another process, it
    still passes 0.75 s after the check, and is refused from 1 s on (and stays refused)."""
    view, seconds = server_view
    cred, token = creds.create("ai:x", ["propose"], by="admin:root")
    assert view.authenticate(token) == cred
    creds.revoke(cred.id, by="admin:root")
    seconds.now += 0.75
    assert view.authenticate(token) == cred
    seconds.now += 0.25
    for _ in range(2):
        with pytest.raises(AccessError) as info:
            view.authenticate(token)
        assert (info.value.status, info.value.code) == (401, "revoked_token")


def test_a_checked_token_is_trusted_again_from_its_next_check(creds, server_view):
    """Each read renews the trust from its own time: a row edited after it shows 1 s later."""
    view, seconds = server_view
    cred, token = creds.create("human:ana", ["read", "approve"], by="admin:root")
    seconds.now += 5.0
    assert view.authenticate(token) == cred
    with creds.store.engine.begin() as conn:
        conn.execute(credentials_table.update().values(scopes="read"))
    seconds.now += 0.5
    assert view.authenticate(token).scopes == {"read", "approve"}
    seconds.now += 0.5
    assert view.authenticate(token).scopes == {"read"}


def test_revoking_through_the_server_s_own_view_stops_the_token_at_once(creds, server_view):
    view, _seconds = server_view
    cred, token = creds.create("ai:x", ["propose"], by="admin:root")
    assert view.authenticate(token) == cred
    view.revoke(cred.id, by="admin:root")
    with pytest.raises(AccessError) as info:
        view.authenticate(token)
    assert info.value.code == "revoked_token"


def test_a_wrong_secret_for_a_trusted_id_is_still_refused(creds, server_view):
    """The kept entry answers only for the very token that was checked."""
    view, _seconds = server_view
    cred, token = creds.create("ai:x", ["propose"], by="admin:root")
    assert view.authenticate(token) == cred
    with pytest.raises(AccessError) as info:
        view.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert (info.value.status, info.value.code) == (401, "invalid_token")
    assert view.authenticate(token) == cred


def test_without_cache_seconds_every_check_reads_the_row(creds):
    """The default (0 s): a token revoked by another process is refused at its next check."""
    view = Credentials(creds.store, clock=creds.clock, ids=creds.ids, monotonic=lambda: 0.0)
    cred, token = creds.create("ai:x", ["propose"], by="admin:root")
    assert view.authenticate(token) == cred
    creds.revoke(cred.id, by="admin:root")
    with pytest.raises(AccessError) as info:
        view.authenticate(token)
    assert info.value.code == "revoked_token"


def test_the_server_trusts_a_checked_token_for_the_documented_second():
    """docs/http-mcp.md promises that a token revoked by another process stops working within one
    second on `crmgate serve`: a longer trust is a weaker guarantee than the one documented."""
    assert TOKEN_CACHE_SECONDS == 1.0
