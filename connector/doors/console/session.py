"""The console's session: a cookie that is encrypted and signed, and a row that can end it.

Signing in pastes a credential token. The cookie ``crmgate_session`` holds ``{sid, token}`` as a
Fernet token (AES-CBC with an HMAC-SHA256 signature and a timestamp, from ``cryptography``): the
browser cannot read the token nor forge a session, and a cookie older than ``max_age`` is refused
whatever its ``Max-Age`` said. The server keeps one row per session (the sid's SHA-256, the
credential id, when it ends) so that signing out ends the session at once, even for a copied
cookie. Every request then passes the token to :meth:`Service.admit`, so a revoked credential or
one over its request limit is refused exactly as the API refuses it.

The key comes from ``$CRMGATE_CONSOLE_SECRET``, else from ``console.key`` beside the config
(created on first use, mode 0600), so every server process of one project shares it.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from crmgate.clock import Clock, iso
from crmgate.trail.engine import schema_transaction

SECRET_ENV = "CRMGATE_CONSOLE_SECRET"
KEY_FILE = "console.key"
COOKIE = "crmgate_session"
DEFAULT_MAX_AGE = timedelta(hours=8)

metadata = sa.MetaData()
sessions = sa.Table(
    "crmgate_console_sessions", metadata,
    sa.Column("sid_sha256", sa.String(64), primary_key=True),
    sa.Column("credential_id", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("expires_at", sa.String(32), nullable=False),
    sa.Column("ended_at", sa.String(32)),
)


def console_secret(base_dir: str | os.PathLike[str], env: Mapping[str, str]) -> bytes:
    """The console's secret: the environment's, else the project's ``console.key`` (made once)."""
    if env.get(SECRET_ENV):
        return env[SECRET_ENV].encode("utf-8")
    path = Path(base_dir) / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:  # O_EXCL: of several workers starting at once, one writes it
        f.write(secrets.token_urlsafe(32).encode("ascii"))
    return path.read_bytes().strip()


def derive(secret: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose (the cookie, CSRF), so no key serves two."""
    return hashlib.sha256(purpose.encode("ascii") + b"\x00" + secret).digest()


def _sha(sid: str) -> str:
    return hashlib.sha256(sid.encode("ascii")).hexdigest()


class Sessions:
    """Start, resume and end console sessions (see the module docstring)."""

    def __init__(self, engine: sa.Engine, secret: bytes, *, clock: Clock,
                 max_age: timedelta = DEFAULT_MAX_AGE) -> None:
        self.engine, self.clock, self.max_age = engine, clock, max_age
        self._fernet = Fernet(base64.urlsafe_b64encode(derive(secret, "crmgate-console-session")))
        with schema_transaction(engine) as conn:  # several workers may start at once
            metadata.create_all(conn, checkfirst=True)

    def _now(self) -> int:
        return int(self.clock().timestamp())

    def start(self, token: str, credential_id: str, actor: str) -> tuple[str, str]:
        """``(cookie value, sid)`` of a new session for an admitted credential."""
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(sessions.insert().values(sid_sha256=_sha(sid), credential_id=credential_id, actor=actor,
                                                  created_at=iso(now), expires_at=iso(now + self.max_age)))
        body = json.dumps({"sid": sid, "token": token}).encode("utf-8")
        return self._fernet.encrypt_at_time(body, self._now()).decode("ascii"), sid

    def resume(self, cookie: str | None) -> tuple[str, str] | None:
        """``(sid, token)`` of a live session; None for no cookie, a forged or stale one, or an ended session."""
        if not cookie:
            return None
        try:
            body = self._fernet.decrypt_at_time(cookie.encode("ascii"), int(self.max_age.total_seconds()),
                                                self._now())
            data = json.loads(body)
            sid, token = str(data["sid"]), str(data["token"])
        except (InvalidToken, ValueError, KeyError, TypeError, UnicodeEncodeError):
            return None
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(sessions.c.ended_at, sessions.c.expires_at)
                               .where(sessions.c.sid_sha256 == _sha(sid))).first()
        if row is None or row.ended_at is not None or row.expires_at <= iso(self.clock()):
            return None
        return sid, token

    def end(self, sid: str) -> None:
        """Sign out: the session is refused from now on, wherever its cookie is."""
        with self.engine.begin() as conn:
            conn.execute(sa.update(sessions).where(sessions.c.sid_sha256 == _sha(sid))
                         .values(ended_at=iso(self.clock())))
