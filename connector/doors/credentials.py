"""Credentials: who is calling the HTTP API or the MCP server, as which actor, with which scopes.

A credential maps a bearer token to one actor and a set of scopes:

``propose``   submit and check proposals, as the credential's actor only
``read``      read records, and the changes and proposals of the credential's own actor
``approve``   list, approve and reject queued changes (never for ``ai:`` actors)
``rollback``  roll changes back (never for ``ai:`` actors: undoing is a person's decision)
``export``    export the trail for auditors (never for ``ai:`` actors: it reads every actor's data)

A credential holding ``approve``, ``rollback`` or ``export`` is an admin credential: it reads every
change, not only its own actor's.

Tokens look like ``crmgate.<credential id>.<secret>``: the id lets a refusal be logged without the
secret, the secret is 32 random bytes. Only the SHA-256 of the whole token is stored (a token has
256 bits of entropy, so a slow password hash would add nothing). The token is shown once, when it
is created. Creating and revoking a credential are trail entries (``credential.created``,
``credential.revoked``, with the actor and scopes, never the token or its hash), committed in the
same transaction as the credential row.

A server may trust a token it has checked for ``cache_seconds`` (``crmgate serve``:
:data:`TOKEN_CACHE_SECONDS`) instead of reading its row on every request. Only live credentials
are kept, by id with the token's hash (a wrong secret for a kept id is read and refused as
always); revoking through the same :class:`Credentials` drops the entry at once, and a token
revoked by another process (``crmgate tokens revoke``, another worker) stops working within
``cache_seconds``.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from crmgate.actors import is_ai, name_problem
from crmgate.clock import Clock, IdFactory, iso
from crmgate.errors import CrmgateError
from crmgate.trail import NewEntry, TrailStore

SCOPES: tuple[str, ...] = ("propose", "read", "approve", "rollback", "export")
PEOPLE_ONLY: frozenset[str] = frozenset({"approve", "rollback", "export"})
ADMIN_SCOPES: frozenset[str] = frozenset({"approve", "rollback", "export"})
TOKEN_PREFIX = "crmgate"
#: how long ``crmgate serve`` trusts a checked token before reading its row again (the bound on
#: how long a token revoked by another process keeps working)
TOKEN_CACHE_SECONDS = 1.0

metadata = sa.MetaData()
credentials_table = sa.Table(
    "crmgate_credentials",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("scopes", sa.String(200), nullable=False),  # comma-separated, sorted
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("label", sa.Text),
    sa.Column("rate_limit", sa.Integer),  # requests per minute; NULL: the server's default
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("revoked_at", sa.String(32)),
    sa.Column("revoked_by", sa.String(200)),
)


class AccessError(CrmgateError):
    """A request refused for who sent it: ``status`` is the HTTP status it maps to
    (401 unknown/revoked token, 403 missing scope or impersonation, 429 over the request limit)."""

    code = "access_denied"

    def __init__(self, message: str, *, code: str, status: int, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message, code=code, details=details)
        self.status = status
        #: HTTP headers the refusal answers with (Retry-After, RateLimit-*, WWW-Authenticate)
        self.headers = dict(headers or {})
        if status == 401:
            self.headers.setdefault("WWW-Authenticate", "Bearer")


class CredentialError(CrmgateError):
    """A credential cannot be created or revoked as asked (bad scope, AI approver, unknown id)."""

    code = "invalid_credential"


@dataclass(frozen=True, slots=True)
class Credential:
    id: str
    actor: str
    scopes: frozenset[str]
    created_at: str
    created_by: str
    label: str | None = None
    rate_limit: int | None = None
    revoked_at: str | None = None
    revoked_by: str | None = None

    @property
    def admin(self) -> bool:
        return bool(self.scopes & ADMIN_SCOPES)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "actor": self.actor, "scopes": sorted(self.scopes), "label": self.label,
                "rate_limit": self.rate_limit, "created_at": self.created_at,
                "created_by": self.created_by, "revoked_at": self.revoked_at,
                "revoked_by": self.revoked_by}


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def credential_id_of(token: str | None) -> str | None:
    """The credential id inside a well-formed token (for logs); None for anything else."""
    parts = (token or "").split(".")
    if len(parts) == 3 and parts[0] == TOKEN_PREFIX and parts[1] and parts[2]:
        return parts[1][:64]
    return None


def check_scopes(actor: str, scopes: Iterable[str]) -> frozenset[str]:
    """The scopes as a set; :class:`CredentialError` for an unknown scope, none at all, or a
    people-only scope for an ``ai:`` actor."""
    wanted = frozenset(s.strip() for s in scopes if s and s.strip())
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise CredentialError(f"unknown scope {unknown[0]!r} (known: {', '.join(SCOPES)})",
                              code="unknown_scope", details={"scopes": unknown})
    if not wanted:
        raise CredentialError(f"a credential needs at least one scope ({', '.join(SCOPES)})",
                              code="unknown_scope")
    if is_ai(actor) and wanted & PEOPLE_ONLY:
        bad = sorted(wanted & PEOPLE_ONLY)
        raise CredentialError(f"{actor} is an AI actor and can never hold {' or '.join(bad)}: "
                              "approving, rolling back and exporting are for people", code="scope_not_allowed",
                              details={"actor": actor, "scopes": bad})
    return wanted


def create_tables(engine: sa.Engine) -> None:
    from crmgate.trail.engine import schema_transaction

    with schema_transaction(engine) as conn:
        metadata.create_all(conn, checkfirst=True)


class Credentials:
    """The credential table beside the trail. ``random_bytes`` is injected so tests get fixed tokens;
    ``cache_seconds`` (0: read every time) and its clock ``monotonic``: see the module docstring."""

    def __init__(self, store: TrailStore, *, clock: Clock, ids: IdFactory,
                 random_bytes: Callable[[int], bytes] = secrets.token_bytes, cache_seconds: float = 0.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store, self.clock, self.ids, self.random_bytes = store, clock, ids, random_bytes
        self.cache_seconds, self.monotonic = cache_seconds, monotonic
        #: credential id -> (token hash, live credential, trusted until); only ids of real rows
        self._checked: dict[str, tuple[str, Credential, float]] = {}
        create_tables(store.engine)

    def create(self, actor: str, scopes: Iterable[str], *, by: str, label: str | None = None,
               rate_limit: int | None = None) -> tuple[Credential, str]:
        """A new credential and its token (the only time the token exists in clear)."""
        actor = (actor or "").strip()
        if not actor:
            raise CredentialError("a credential needs an actor (--actor)", code="actor_missing")
        problem = name_problem(actor)
        if problem:
            raise CredentialError(f"{problem}: {actor!r}", code="invalid_actor", details={"actor": actor})
        if rate_limit is not None and rate_limit < 1:
            raise CredentialError("rate_limit must be at least 1 request per minute", code="invalid_rate_limit")
        wanted = check_scopes(actor, scopes)
        cred = Credential(id=self.ids("cred"), actor=actor, scopes=wanted, created_at=iso(self.clock()),
                          created_by=by, label=label, rate_limit=rate_limit)
        secret = base64.urlsafe_b64encode(self.random_bytes(32)).decode("ascii").rstrip("=")
        token = f"{TOKEN_PREFIX}.{cred.id}.{secret}"
        row = {**_row(cred), "token_sha256": token_sha256(token)}
        self.store.append([self._entry("credential.created", cred, by)],
                          also=lambda conn, _e: conn.execute(credentials_table.insert().values(**row)))
        return cred, token

    def revoke(self, credential_id: str, *, by: str) -> Credential:
        """Revoke at once: every later request with its token is refused (401 ``revoked_token``)."""
        cred = self.get(credential_id)
        if cred.revoked_at is not None:
            raise CredentialError(f"credential {credential_id} was already revoked at {cred.revoked_at}",
                                  code="already_revoked")
        now = iso(self.clock())
        t = credentials_table
        self.store.append([self._entry("credential.revoked", cred, by)], also=lambda conn, _e: conn.execute(
            t.update().where(t.c.id == credential_id).values(revoked_at=now, revoked_by=by)))
        self._checked.pop(credential_id, None)
        return self.get(credential_id)

    def get(self, credential_id: str) -> Credential:
        t = credentials_table
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == credential_id)).mappings().first()
        if row is None:
            raise CredentialError(f"no credential {credential_id}", code="unknown_credential",
                                  details={"id": credential_id})
        return _from_row(row)

    def list(self) -> list[Credential]:
        t = credentials_table
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.created_at, t.c.id)).mappings().all()
        return [_from_row(r) for r in rows]

    def authenticate(self, token: str | None) -> Credential:
        """The live credential of ``token``; :class:`AccessError` (401) otherwise."""
        if not token:
            raise AccessError("no credential: send `Authorization: Bearer <token>`", code="missing_token",
                              status=401)
        cred_id = credential_id_of(token)
        digest = token_sha256(token)
        kept = self._checked.get(cred_id or "")
        if kept is not None and hmac.compare_digest(digest, kept[0]) and self.monotonic() < kept[2]:
            return kept[1]
        row = None
        if cred_id is not None:
            t = credentials_table
            with self.store.engine.connect() as conn:
                row = conn.execute(sa.select(t).where(t.c.id == cred_id)).mappings().first()
        # compare even when there is no row, so timing does not tell which ids exist
        expected = row["token_sha256"] if row is not None else "0" * 64
        if not hmac.compare_digest(digest, expected) or row is None:
            raise AccessError("unknown token", code="invalid_token", status=401)
        cred = _from_row(row)
        if cred.revoked_at is not None:
            raise AccessError(f"credential {cred.id} was revoked", code="revoked_token", status=401,
                              details={"credential_id": cred.id})
        self._checked[cred.id] = (digest, cred, self.monotonic() + self.cache_seconds)  # 0: never used
        return cred

    def _entry(self, kind: str, cred: Credential, by: str) -> NewEntry:
        return NewEntry(kind=kind, actor=by, data={
            "credential_id": cred.id, "actor": cred.actor, "scopes": sorted(cred.scopes),
            "label": cred.label, "rate_limit": cred.rate_limit})


def _row(cred: Credential) -> dict[str, Any]:
    return {"id": cred.id, "actor": cred.actor, "scopes": ",".join(sorted(cred.scopes)),
            "label": cred.label, "rate_limit": cred.rate_limit, "created_at": cred.created_at,
            "created_by": cred.created_by}


def _from_row(row: Any) -> Credential:
    scopes = frozenset(s for s in row["scopes"].split(",") if s in SCOPES)
    if is_ai(row["actor"]):
        scopes -= PEOPLE_ONLY  # a row edited by hand still cannot make an AI an approver
    return Credential(id=row["id"], actor=row["actor"], scopes=scopes, created_at=row["created_at"],
                      created_by=row["created_by"], label=row["label"], rate_limit=row["rate_limit"],
                      revoked_at=row["revoked_at"], revoked_by=row["revoked_by"])
